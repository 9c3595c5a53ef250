//! The MNIST tutorial's CNN: three convolutions (two max-pooled), two dense
//! layers, on `[1, 28, 28]` input, as the tutorial's Keras model.

use crate::train::{Activation, Conv2dConfig, Sequential};
use crate::Result;

/// The MNIST tutorial CNN on `[1, 28, 28]` input, initialised as Keras does, deterministic from `seed`.
pub fn mnist_cnn(seed: u64) -> Result<Sequential> {
    let relu = Conv2dConfig {
        activation: Activation::Relu,
        ..Default::default()
    };
    Sequential::builder([1, 28, 28], seed)
        .conv2d("conv1", 8, (3, 3), relu)
        .max_pool2d("pool1", (2, 2))
        .conv2d("conv2", 16, (3, 3), relu)
        .max_pool2d("pool2", (2, 2))
        .conv2d("conv3", 32, (5, 5), Conv2dConfig::default())
        .flatten("flatten")
        .linear("dense1", 64, Activation::Relu)
        .linear("dense2", 10, Activation::None)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use candle_core::{DType, Device, Tensor};
    use std::collections::HashMap;

    #[test]
    fn mnist_cnn_summary_matches_keras() {
        let rows = mnist_cnn(0).unwrap().summary().unwrap();
        let got: Vec<(&str, &str, Vec<usize>, usize)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.kind, r.output_shape.clone(), r.params))
            .collect();
        let want = vec![
            ("conv1", "Conv2D", vec![8, 26, 26], 80), // 8*1*3*3 + 8
            ("pool1", "MaxPooling2D", vec![8, 13, 13], 0),
            ("conv2", "Conv2D", vec![16, 11, 11], 1168), // 16*8*3*3 + 16
            ("pool2", "MaxPooling2D", vec![16, 5, 5], 0),
            ("conv3", "Conv2D", vec![32, 1, 1], 12832), // 32*16*5*5 + 32
            ("flatten", "Flatten", vec![32], 0),
            ("dense1", "Dense", vec![64], 2112), // 32*64 + 64
            ("dense2", "Dense", vec![10], 650),  // 64*10 + 10
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn glorot_init_is_bounded_seeded_and_biases_are_zero() {
        let a = mnist_cnn(7).unwrap();
        let b = mnist_cnn(7).unwrap();
        let c = mnist_cnn(8).unwrap();
        let w =
            |m: &Sequential, i: usize| m.vars()[i].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(w(&a, 0), w(&b, 0));
        assert_ne!(w(&a, 0), w(&c, 0));
        // conv1: limit sqrt(6 / (1*9 + 8*9)) = 0.2722; dense2: sqrt(6 / (64 + 10)) = 0.2847
        for (i, limit) in [(0, 0.2722f32), (8, 0.2847)] {
            let v = w(&a, i);
            assert!(v.iter().all(|x| x.abs() <= limit));
            // a uniform sample spreads out: its largest magnitude is near the limit
            assert!(v.iter().any(|x| x.abs() > 0.8 * limit));
        }
        assert!(w(&a, 1).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn forward_all_ends_with_forward_and_follows_summary() {
        let m = mnist_cnn(0).unwrap();
        let x = Tensor::randn(0f32, 50., (3, 1, 28, 28), &Device::Cpu).unwrap();
        let outs = m.forward_all(&x).unwrap();
        let logits = m.forward(&x).unwrap();
        for (o, r) in outs.iter().zip(m.summary().unwrap()) {
            assert_eq!(o.dims()[1..], r.output_shape[..]);
        }
        let d = (outs.last().unwrap() - logits)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
        let e = m.forward(&Tensor::zeros((1, 1, 27, 28), DType::F32, &Device::Cpu).unwrap());
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("expected input [N, 1, 28, 28]"));
    }

    #[test]
    fn save_load_round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("wb-train-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let a = mnist_cnn(1).unwrap();
        a.save(&path).unwrap();
        let b = mnist_cnn(2).unwrap();
        b.load(&path).unwrap();
        let x = Tensor::randn(0f32, 50., (2, 1, 28, 28), &Device::Cpu).unwrap();
        let d = (a.forward(&x).unwrap() - b.forward(&x).unwrap()).unwrap();
        assert_eq!(
            d.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        // a file without dense2 and with a wrong-shaped conv1.weight
        let mut small = HashMap::new();
        small.insert(
            "conv1.weight".to_string(),
            Tensor::zeros((8, 1, 3, 3), DType::F32, &Device::Cpu).unwrap(),
        );
        let p2 = dir.join("missing.safetensors");
        candle_core::safetensors::save(&small, &p2).unwrap();
        assert!(b
            .load(&p2)
            .unwrap_err()
            .to_string()
            .contains("missing tensor conv1.bias"));
        small.insert(
            "conv1.weight".to_string(),
            Tensor::zeros((8, 1, 5, 5), DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&small, &p2).unwrap();
        let e = b.load(&p2).unwrap_err().to_string();
        assert!(
            e.contains("conv1.weight") && e.contains("[8, 1, 3, 3]"),
            "{e}"
        );
        assert!(matches!(b.load(&dir.join("nope")), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn batch_norm_buffers_are_saved_and_trained() {
        let dir = std::env::temp_dir().join(format!("wb-train-bn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let a = crate::models::ds_cnn_s(49, 10, 4, 1).unwrap();
        let x = Tensor::randn(0f32, 2., (8, 1, 49, 10), &Device::Cpu).unwrap();
        // a training-mode pass moves the running statistics (Keras: 1% of the way)
        let before = a.named_buffers()[0].1.to_vec1::<f32>().unwrap();
        a.forward_train(&x).unwrap();
        let after = a.named_buffers()[0].1.to_vec1::<f32>().unwrap();
        assert_ne!(before, after);
        let names: Vec<String> = a.named_buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[..2], ["bn1.running_mean", "bn1.running_var"]);
        a.save(&path).unwrap();
        let b = crate::models::ds_cnn_s(49, 10, 4, 2).unwrap();
        b.load(&path).unwrap();
        let d = (a.forward(&x).unwrap() - b.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
