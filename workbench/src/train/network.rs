//! What a training loop needs of a model: forward passes in inference and
//! training mode, its variables, and its state for checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use super::sequential::Sequential;
use crate::{Error, Result};

/// A trainable model on NCHW f32 input.
pub trait Network: Sync {
    /// The logits in inference mode.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
    /// The logits in training mode (batch statistics, dropout).
    fn forward_train(&self, x: &Tensor) -> Result<Tensor>;
    /// The variables the optimizer updates.
    fn vars(&self) -> Vec<Var>;
    /// Every variable and buffer with its name, for checkpoints.
    fn named_state(&self) -> Vec<(String, Var)>;
    /// Input shape without the batch dimension: `[C, H, W]`.
    fn input_shape(&self) -> [usize; 3];
    /// The learned clipping bounds among [`Network::vars`] (PACT's clips),
    /// which PACT's optimizers put in a group of their own; none by default.
    fn clip_vars(&self) -> Vec<Var> {
        Vec::new()
    }

    /// Saves [`Network::named_state`] as safetensors.
    fn save_state(&self, path: &Path) -> Result<()> {
        let map: HashMap<String, Tensor> = self
            .named_state()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, path)
            .map_err(|e| Error::Msg(format!("{}: cannot save the weights: {e}", path.display())))
    }

    /// Loads [`Network::named_state`] from a safetensors file written by [`Network::save_state`].
    fn load_state(&self, path: &Path) -> Result<()> {
        if let Err(e) = std::fs::metadata(path) {
            return Err(Error::io(path, e));
        }
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        for (name, var) in self.named_state() {
            let t = map
                .get(&name)
                .ok_or_else(|| Error::bad_file(path, format!("missing tensor {name}")))?;
            if t.dims() != var.dims() {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "tensor {name}: expected shape {:?}, got {:?}",
                        var.dims(),
                        t.dims()
                    ),
                ));
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }
}

impl Network for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Sequential::forward(self, x)
    }
    fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        Sequential::forward_train(self, x)
    }
    fn vars(&self) -> Vec<Var> {
        Sequential::vars(self)
    }
    fn named_state(&self) -> Vec<(String, Var)> {
        Sequential::named_state(self)
    }
    fn input_shape(&self) -> [usize; 3] {
        self.input_shape
    }
}
