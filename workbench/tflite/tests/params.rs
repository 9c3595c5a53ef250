//! Model parameters (MLTK's `SL_PARAMSv1` metadata) through `write` and `read`.

use workbench_tflite::params::METADATA_NAME;
use workbench_tflite::schema as fb;
use workbench_tflite::{read, write, ModelParams, ParamValue};
mod common;

use common::every_op_graph;

fn with_params() -> workbench_tflite::Graph {
    let mut g = every_op_graph();
    g.params.set("samplewise_norm.rescale", 1.0f32 / 255.0);
    g.params.set("samplewise_norm.mean_and_std", false);
    g.params
        .set("classes", vec!["yes".to_string(), "no".to_string()]);
    g.params.set("average_window_duration_ms", 1000i32);
    g
}

/// The bytes of the model's `name` metadata entry and their offset in the file.
fn metadata<'a>(bytes: &'a [u8], name: &str) -> Option<(usize, &'a [u8])> {
    let m = fb::root_as_model(bytes).unwrap();
    let entry = m.metadata()?.iter().find(|e| e.name() == Some(name))?;
    let data = m.buffers()?.get(entry.buffer() as usize).data()?.bytes();
    Some((data.as_ptr() as usize - bytes.as_ptr() as usize, data))
}

#[test]
fn params_survive_write_then_read_in_order() {
    let g = with_params();
    let back = read(&write(&g).unwrap()).unwrap();
    assert_eq!(back.params, g.params);
    let keys: Vec<&str> = back.params.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "samplewise_norm.rescale",
            "samplewise_norm.mean_and_std",
            "classes",
            "average_window_duration_ms"
        ]
    );
    assert_eq!(back, g);
}

#[test]
fn a_graph_without_params_writes_no_entry() {
    let bytes = write(&every_op_graph()).unwrap();
    assert!(metadata(&bytes, METADATA_NAME).is_none());
    assert!(metadata(&bytes, "min_runtime_version").is_some());
    assert!(read(&bytes).unwrap().params.is_empty());
}

#[test]
fn params_entry_is_a_16_byte_aligned_dictionary_next_to_min_runtime_version() {
    let g = with_params();
    let bytes = write(&g).unwrap();
    let (offset, data) = metadata(&bytes, METADATA_NAME).unwrap();
    assert_eq!(offset % 16, 0, "dictionary at offset {offset}");
    assert_eq!(ModelParams::from_flatbuffer(data).unwrap(), g.params);
    let names: Vec<_> = fb::root_as_model(&bytes)
        .unwrap()
        .metadata()
        .unwrap()
        .iter()
        .map(|e| e.name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["min_runtime_version", METADATA_NAME]);
}

#[test]
fn a_broken_dictionary_is_an_error_naming_the_entry() {
    let bytes = write(&with_params()).unwrap();
    let (offset, _) = metadata(&bytes, METADATA_NAME).unwrap();
    let mut bad = bytes.clone();
    // The dictionary's root offset points past its end.
    bad[offset..offset + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let err = read(&bad).unwrap_err().to_string();
    assert!(err.contains(METADATA_NAME), "{err}");
}

/// Every single-byte change inside the dictionary reads or errors, never panics.
#[test]
fn corrupted_dictionary_bytes_never_panic() {
    let bytes = write(&with_params()).unwrap();
    let (offset, data) = metadata(&bytes, METADATA_NAME).unwrap();
    for i in offset..offset + data.len() {
        for x in [0u8, 0x01, 0x7f, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] = x;
            let _ = read(&b);
        }
    }
}

#[test]
fn values_print_on_one_line() {
    let g = with_params();
    let lines: Vec<String> = g.params.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    assert_eq!(
        lines,
        [
            "samplewise_norm.rescale: 0.003921569",
            "samplewise_norm.mean_and_std: false",
            "classes: \"yes\",\"no\"",
            "average_window_duration_ms: 1000",
        ]
    );
    assert_eq!(
        g.params
            .get("samplewise_norm.rescale")
            .and_then(ParamValue::as_f64),
        Some(f64::from(1.0f32 / 255.0))
    );
}
