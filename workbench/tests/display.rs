//! Rich notebook display: HTML tables, evcxr MIME framing and PNG digit grids.

use std::io::Cursor;

use base64::Engine as _;
use workbench::display::evcxr::{html_block, mime_block};
use workbench::display::html::escape;
use workbench::display::png::{GAP_GRAY, LABEL_HEIGHT};
use workbench::display::{digits_png, ModelSummary};
use workbench::estimate::{Estimate, LayerEstimate};
use workbench::metrics::ConfusionMatrix;
use workbench::models::mnist_cnn;
use workbench::quant::report::{QuantReport, ReportRow};
use workbench::tflite::DType;
use workbench::train::LayerSummary;

/// Text of every cell of every `<tr>` in `html`, tags stripped and entities left as written.
fn rows(html: &str) -> Vec<Vec<String>> {
    html.split("<tr>")
        .skip(1)
        .map(|tr| {
            let tr = &tr[..tr.find("</tr>").expect("unclosed <tr>")];
            tr.split(['<'])
                .filter(|s| s.starts_with("td") || s.starts_with("th"))
                .map(|s| s[s.find('>').unwrap() + 1..].to_string())
                .collect()
        })
        .collect()
}

fn row(op: &str, idx: usize, name: &str, rmse_over_scale: f64) -> ReportRow {
    ReportRow {
        op_name: op.to_string(),
        tensor_idx: idx,
        num_elements: 5408,
        stddev: 0.01234,
        mean_error: -1.5e-5,
        max_abs_error: 0.0456,
        mean_squared_error: 1.6e-4,
        scale: 0.0438,
        zero_point: -128,
        tensor_name: name.to_string(),
        range: 255.0 * 0.0438,
        rmse_over_scale,
    }
}

#[test]
fn html_escaping_of_tensor_names() {
    assert_eq!(escape("a<b>&\"c\"'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;");
    let report = QuantReport {
        rows: vec![row("CONV_2D", 3, "conv<1>&\"relu\"", 0.29)],
        examples: 8,
    };
    let html = report.to_html();
    assert!(html.contains("<td>conv&lt;1&gt;&amp;&quot;relu&quot;</td>"));
    assert!(!html.contains("conv<1>"));
    assert!(!html.contains("\"relu\""));
}

#[test]
fn report_table_has_header_and_one_row_per_layer() {
    let report = QuantReport {
        rows: vec![
            row("CONV_2D", 3, "conv1", 0.2887),
            row("MAX_POOL_2D", 4, "pool1", 0.30),
            row("FULLY_CONNECTED", 9, "dense2", 0.9123),
        ],
        examples: 16,
    };
    let html = report.to_html();
    assert_eq!(html.matches("<tr>").count(), 4); // header + 3 rows
    assert_eq!(html.matches("<tr").count(), 4); // no styled <tr ...> either
    let t = rows(&html);
    assert_eq!(
        t[0],
        [
            "op",
            "idx",
            "elems",
            "stddev",
            "mean_err",
            "max_abs",
            "mse",
            "scale",
            "zp",
            "range",
            "rmse/scale",
            "tensor"
        ]
    );
    // first row: every column formatted readably (4 significant digits, thousands separators)
    assert_eq!(
        t[1],
        [
            "CONV_2D",
            "3",
            "5,408",
            "0.01234",
            "-1.500e-5",
            "0.04560",
            "1.600e-4",
            "0.04380",
            "-128",
            "11.17",
            "0.289",
            "conv1"
        ]
    );
    assert!(html.contains("over 16 examples"));
    // only the 0.912 row is highlighted
    assert_eq!(html.matches("color:#c00000").count(), 1);
    assert!(html.contains("font-weight:bold;color:#c00000\">0.912</td>"));
    let block = html_block(&html);
    assert!(block.starts_with("EVCXR_BEGIN_CONTENT text/html\n<table>"));
    assert!(block.ends_with("</table>\nEVCXR_END_CONTENT\n"));
}

#[test]
fn confusion_matrix_html_has_hand_checked_counts_and_scores() {
    let truth = [0, 0, 0, 1, 1, 2];
    let pred = [0, 0, 1, 1, 2, 2];
    let cm = ConfusionMatrix::from_predictions(&pred, &truth, 3).unwrap();
    let t = rows(&cm.to_html());
    // matrix: header, 3 class rows; then scores: header, 3 class rows, macro row
    assert_eq!(t.len(), 9);
    assert_eq!(t[0], ["truth \\ pred", "0", "1", "2", "support"]);
    assert_eq!(t[1], ["0", "2", "1", "0", "3"]); // two 0s right, one 0 taken for 1
    assert_eq!(t[2], ["1", "0", "1", "1", "2"]); // one 1 right, one 1 taken for 2
    assert_eq!(t[3], ["2", "0", "0", "1", "1"]); // the one 2 right
    assert_eq!(t[4], ["class", "precision", "recall", "f1", "support"]);
    assert_eq!(t[5], ["0", "1.0000", "0.6667", "0.8000", "3"]); // p 2/2, r 2/3, f1 4/5
    assert_eq!(t[6], ["1", "0.5000", "0.5000", "0.5000", "2"]); // p 1/2, r 1/2, f1 2/4
    assert_eq!(t[7], ["2", "0.5000", "1.0000", "0.6667", "1"]); // p 1/2, r 1/1, f1 2/3
    assert_eq!(t[8], ["macro avg", "0.6667", "0.7222", "0.6556", "6"]); // means of the above
    let named = rows(&cm.to_html_named(Some(&["cat", "<dog>"])));
    // a missing name falls back to the index; names are escaped
    assert_eq!(
        named[0],
        ["truth \\ pred", "cat", "&lt;dog&gt;", "2", "support"]
    );
}

#[test]
fn estimate_table_with_totals_and_memory() {
    let est = Estimate {
        rom_bytes: 1_392,
        rom_by_type: vec![(DType::I8, 1_152), (DType::I32, 240)],
        ram_bytes_worst: 7_200,
        ram_bytes_best: 6_192,
        layers: vec![
            LayerEstimate {
                index: 0,
                op: "CONV_2D",
                output_shape: vec![1, 26, 26, 8],
                macs: 48_672, // 26*26*8*3*3*1
                params: 80,
                rom_bytes: 104,   // 72 int8 weights + 8 int32 biases
                ram_bytes: 6_192, // 28*28 int8 in + 26*26*8 out
            },
            LayerEstimate {
                index: 1,
                op: "MAX_POOL_2D",
                output_shape: vec![1, 13, 13, 8],
                macs: 0,
                params: 0,
                rom_bytes: 0,
                ram_bytes: 6_760, // 26*26*8 in + 13*13*8 out
            },
        ],
        macs: 48_672,
    };
    let html = est.to_html();
    let t = rows(&html);
    assert_eq!(
        t[0],
        [
            "#",
            "op",
            "output",
            "MACs",
            "params",
            "ROM bytes",
            "RAM bytes"
        ]
    );
    assert_eq!(
        t[1],
        ["0", "CONV_2D", "1×26×26×8", "48,672", "80", "104", "6,192"]
    );
    assert_eq!(
        t[2],
        ["1", "MAX_POOL_2D", "1×13×13×8", "0", "0", "0", "6,760"]
    );
    assert_eq!(t[3], ["", "total", "", "48,672", "80", "1,392", "6,192"]);
    assert!(html.contains("ROM 1,392 bytes (int8 1,152, int32 240)"));
    assert!(html.contains("RAM 6,192 bytes best"));
    assert!(html.contains("7,200 bytes worst"));
}

#[test]
fn model_summary_matches_keras_parameter_counts() {
    let s = mnist_cnn(0).unwrap().model_summary().unwrap();
    let t = rows(&s.to_html());
    assert_eq!(t[0], ["Layer (type)", "Output Shape", "Param #"]);
    // Keras: conv params = kh*kw*in*out + out, dense params = in*out + out
    assert_eq!(t[1], ["conv1 (Conv2D)", "(None, 8, 26, 26)", "80"]); // 9*1*8+8
    assert_eq!(t[3], ["conv2 (Conv2D)", "(None, 16, 11, 11)", "1,168"]); // 9*8*16+16
    assert_eq!(t[5], ["conv3 (Conv2D)", "(None, 32, 1, 1)", "12,832"]); // 25*16*32+32
    assert_eq!(t[7], ["dense1 (Dense)", "(None, 64)", "2,112"]); // 32*64+64
    assert_eq!(t[8], ["dense2 (Dense)", "(None, 10)", "650"]); // 64*10+10
    assert_eq!(t[9], ["Total params", "", "16,842"]); // 80+1168+12832+2112+650
    assert_eq!(s.total_params(), 16_842);
    assert!(s.to_string().ends_with("Total params: 16,842"));

    let hand = ModelSummary(vec![LayerSummary {
        name: "d<1>".into(),
        kind: "Dense",
        output_shape: vec![4],
        params: 20,
    }]);
    assert!(hand.to_html().contains("<td>d&lt;1&gt; (Dense)</td>"));
}

#[test]
fn mime_block_framing() {
    assert_eq!(
        html_block("<b>x</b>"),
        "EVCXR_BEGIN_CONTENT text/html\n<b>x</b>\nEVCXR_END_CONTENT\n"
    );
    assert_eq!(
        mime_block("text/plain", "a\nb"),
        "EVCXR_BEGIN_CONTENT text/plain\na\nb\nEVCXR_END_CONTENT\n"
    );
}

fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType, Vec<u8>) {
    let mut reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[test]
fn digits_png_decodes_to_scaled_tiles_and_labels() {
    // two synthetic 28x28 "digits": pixel value = (row * 28 + col) % 251 and its inverse
    let mut images: Vec<u8> = (0..784).map(|i| (i % 251) as u8).collect();
    images.extend((0..784).map(|i| 255 - (i % 251) as u8));
    let img = digits_png(&images, 1, 2, Some(&[3, 7])).unwrap();
    let (w, h, color, px) = decode_png(img.png_bytes());
    assert_eq!(color, png::ColorType::Grayscale);
    assert_eq!(w, 2 * 112 + 3 * 2); // two 4x tiles, three 2-px gaps
    assert_eq!(h, 112 + 21 + 2 * 2); // tile, label strip, two gaps
    assert_eq!(LABEL_HEIGHT, 21);
    let at = |x: usize, y: usize| px[y * w as usize + x];
    assert_eq!(at(0, 0), GAP_GRAY); // border
    assert_eq!(at(114, 50), GAP_GRAY); // gap between tiles
                                       // tile 0 starts at (2, 2): source pixel (row 5, col 6) = 146 covers x 26..30, y 22..26
    assert_eq!(at(2 + 24, 2 + 20), 146);
    assert_eq!(at(2 + 27, 2 + 23), 146);
    assert_eq!(at(2 + 28, 2 + 20), 147); // next source column
                                         // tile 1 starts at (116, 2): inverse of source pixel (27, 27) = 783 % 251 = 30 -> 225
    assert_eq!(at(116 + 111, 2 + 111), 225);
    // label "7" centred in the strip at y 114..135: glyph at x 167..176, y 117..132
    assert_eq!(at(167, 117), 255); // top bar of 7
    assert_eq!(at(175, 119), 255);
    assert_eq!(at(167, 120), 0); // second row of 7 is only its right column
    assert_eq!(at(173, 120), 255);
    assert_eq!(at(120, 116), 0); // strip background
    assert_eq!(px, img.pixels());

    let block = img.evcxr_block();
    let b64 = block
        .strip_prefix("EVCXR_BEGIN_CONTENT image/png\n")
        .and_then(|b| b.strip_suffix("\nEVCXR_END_CONTENT\n"))
        .unwrap();
    assert!(b64.starts_with("iVBORw0KGgo")); // base64 of the PNG signature
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(decoded, img.png_bytes());

    // without labels there is no strip
    let plain = digits_png(&images[..784], 1, 1, None).unwrap();
    assert_eq!((plain.width(), plain.height()), (116, 116));
}

#[test]
fn digits_png_rejects_bad_input() {
    let images = vec![0u8; 784];
    let e = digits_png(&images, 1, 2, None).unwrap_err().to_string();
    assert_eq!(
        e,
        "digits_png: 1x2 tiles need 1568 bytes of 28x28 images, got 784"
    );
    let e = digits_png(&images, 1, 1, Some(&[12]))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "digits_png: label 12 at index 0 is not a digit 0-9");
    assert!(digits_png(&images, 0, 3, None).is_err());
}
