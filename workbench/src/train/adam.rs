//! The Adam optimizer exactly as Keras writes its update.

use candle_core::{backprop::GradStore, Tensor, Var};

use super::ops::host::with_host;
use crate::Result;

/// Adam with Keras' update rule and defaults (beta1 0.9, beta2 0.999, epsilon 1e-7).
pub struct Adam {
    vars: Vec<Var>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    step: u64,
    /// Learning rate.
    pub learning_rate: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub epsilon: f64,
}

impl Adam {
    /// An optimizer for `vars` with Keras' defaults and learning rate `learning_rate`.
    pub fn new(vars: Vec<Var>, learning_rate: f64) -> Self {
        let m = vars
            .iter()
            .map(|v| vec![0.0; v.elem_count()])
            .collect::<Vec<_>>();
        Adam {
            v: m.clone(),
            m,
            vars,
            step: 0,
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// One update: `m += (g - m)(1 - b1)`, `v += (g² - v)(1 - b2)`,
    /// `p -= lr·sqrt(1 - b2^t)/(1 - b1^t) · m / (sqrt(v) + eps)`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let alpha = (self.learning_rate * (1.0 - self.beta2.powi(t)).sqrt()
            / (1.0 - self.beta1.powi(t))) as f32;
        let (b1, b2, eps) = (self.beta1 as f32, self.beta2 as f32, self.epsilon as f32);
        for ((var, m), v) in self.vars.iter().zip(&mut self.m).zip(&mut self.v) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let new = with_host::<f32, _>(g, "adam", |g| {
                with_host::<f32, _>(var.as_tensor(), "adam", |p| {
                    let mut out = Vec::with_capacity(p.len());
                    for (((&g, &p), m), v) in g.iter().zip(p).zip(m.iter_mut()).zip(v.iter_mut()) {
                        *m += (g - *m) * (1.0 - b1);
                        *v += (g * g - *v) * (1.0 - b2);
                        out.push(p - alpha * *m / (v.sqrt() + eps));
                    }
                    Ok(out)
                })
            })?;
            var.set(&Tensor::from_vec(new, var.shape(), var.device())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn two_steps_by_hand() {
        let p = Var::new(&[1f32], &Device::Cpu).unwrap();
        let mut opt = Adam::new(vec![p.clone()], 0.1);
        for (g, want) in [
            // m = 0.05, v = 0.00025, alpha = 0.1 * sqrt(0.001) / 0.1 = 0.0316228,
            // p = 1 - 0.0316228 * 0.05 / (0.0158114 + 1e-7) = 0.9000006
            (0.5f32, 0.900_000_6f32),
            // m = 0.05 + (-1 - 0.05) * 0.1 = -0.055, v = 0.00025 + (1 - 0.00025) * 0.001 = 0.00124975,
            // alpha = 0.1 * sqrt(0.001999) / 0.19 = 0.0235317,
            // p = 0.9000006 + 0.0235317 * 0.055 / (0.0353518 + 1e-7) = 0.9366109
            (-1.0, 0.936_610_9),
        ] {
            // loss = g * p has gradient g
            let loss = (p.as_tensor() * g as f64).unwrap().sum_all().unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            let got = p.as_tensor().to_vec1::<f32>().unwrap()[0];
            assert!((got - want).abs() < 2e-6, "got {got}, want {want}");
        }
    }
}
