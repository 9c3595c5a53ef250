//! Stochastic gradient descent with momentum, Nesterov momentum and weight
//! decay, exactly as PyTorch's `torch.optim.SGD` writes its update, over
//! parameter groups with their own learning rate and weight decay; and the
//! [`Optimizer`] trait the training loop drives it and Adam through.

use candle_core::{backprop::GradStore, Tensor, Var};

use super::adam::Adam;
use super::ops::host::with_host;
use crate::{Error, Result};

/// What [`fit`](super::fit) needs of an optimizer: one update from the gradients, and a learning rate to schedule.
pub trait Optimizer: Send {
    /// One update of the variables from `grads` (variables without a gradient are left alone).
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    /// The current (base) learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the base learning rate (a schedule calls this before each step).
    fn set_learning_rate(&mut self, learning_rate: f64);
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        Adam::step(self, grads)
    }
    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }
}

/// SGD's hyper-parameters; the default is PyTorch's (learning rate 0.01 here
/// since PyTorch has none, no momentum, no dampening, no Nesterov, no weight decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Base learning rate, for groups without their own (default 0.01).
    pub learning_rate: f64,
    /// Momentum factor (default 0).
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer (default 0).
    pub dampening: f64,
    /// Nesterov momentum; needs momentum > 0 and dampening 0 (default off).
    pub nesterov: bool,
    /// L2 weight decay added to the gradient, for groups without their own (default 0).
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            learning_rate: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// Variables that share a learning rate and weight decay, as PyTorch's parameter groups.
#[derive(Clone, Debug, Default)]
pub struct ParamGroup {
    /// The variables.
    pub vars: Vec<Var>,
    /// This group's learning rate; `None` (the default) follows the optimizer's base rate and its schedule.
    pub learning_rate: Option<f64>,
    /// This group's weight decay; `None` (the default) takes the optimizer's.
    pub weight_decay: Option<f64>,
}

impl ParamGroup {
    /// A group of `vars` with the optimizer's learning rate and weight decay.
    pub fn new(vars: Vec<Var>) -> Self {
        ParamGroup {
            vars,
            ..Default::default()
        }
    }

    /// The same group with weight decay `weight_decay` (e.g. 0 for batch norms, biases and PACT clips).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = Some(weight_decay);
        self
    }

    /// The same group with its own fixed learning rate.
    pub fn with_learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = Some(learning_rate);
        self
    }
}

/// SGD with PyTorch's update rule, per variable `p` with gradient `g`:
/// `d = g + wd * p`; `buf = d` on the first step, else
/// `buf = momentum * buf + (1 - dampening) * d`; `d = d + momentum * buf`
/// with Nesterov, else `d = buf` (no buffer without momentum); `p -= lr * d`.
///
/// ```
/// use candle_core::{Device, Var};
/// use workbench::train::{Optimizer, ParamGroup, Sgd, SgdConfig};
/// let p = Var::new(&[1f32], &Device::Cpu).unwrap();
/// let cfg = SgdConfig { learning_rate: 0.1, momentum: 0.9, ..Default::default() };
/// let mut opt = Sgd::new(vec![ParamGroup::new(vec![p.clone()])], cfg).unwrap();
/// let loss = (p.as_tensor() * 2.0).unwrap().sum_all().unwrap(); // gradient 2
/// opt.step(&loss.backward().unwrap()).unwrap();
/// assert!((p.as_tensor().to_vec1::<f32>().unwrap()[0] - 0.8).abs() < 1e-6);
/// ```
pub struct Sgd {
    groups: Vec<ParamGroup>,
    /// Momentum buffers, per group and variable; empty until the variable's first step.
    buffers: Vec<Vec<Vec<f32>>>,
    /// The hyper-parameters; `learning_rate` and `weight_decay` apply to groups without their own.
    pub config: SgdConfig,
}

impl std::fmt::Debug for Sgd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sgd {{ groups: {}, vars: {}, config: {:?} }}",
            self.groups.len(),
            self.groups.iter().map(|g| g.vars.len()).sum::<usize>(),
            self.config
        )
    }
}

impl Sgd {
    /// An optimizer over `groups`; errors on negative or non-finite
    /// hyper-parameters and on Nesterov without momentum or with dampening (as PyTorch).
    pub fn new(groups: Vec<ParamGroup>, config: SgdConfig) -> Result<Self> {
        let bad = |what: String| Err(Error::Config(format!("sgd: {what}")));
        let rates = groups
            .iter()
            .flat_map(|g| [g.learning_rate, g.weight_decay])
            .flatten();
        for (name, v) in [
            ("learning rate", config.learning_rate),
            ("momentum", config.momentum),
            ("dampening", config.dampening),
            ("weight decay", config.weight_decay),
        ]
        .into_iter()
        .chain(rates.map(|v| ("group learning rate or weight decay", v)))
        {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} {v} must be finite and non-negative"));
            }
        }
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return bad(format!(
                "nesterov needs momentum > 0 and dampening 0, got momentum {} and dampening {}",
                config.momentum, config.dampening
            ));
        }
        let buffers = groups
            .iter()
            .map(|g| vec![Vec::new(); g.vars.len()])
            .collect();
        Ok(Sgd {
            groups,
            buffers,
            config,
        })
    }

    /// The parameter groups.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.config;
        let (momentum, dampening) = (c.momentum as f32, c.dampening as f32);
        for (group, bufs) in self.groups.iter().zip(&mut self.buffers) {
            let lr = group.learning_rate.unwrap_or(c.learning_rate) as f32;
            let wd = group.weight_decay.unwrap_or(c.weight_decay) as f32;
            for (var, buf) in group.vars.iter().zip(bufs.iter_mut()) {
                let Some(g) = grads.get(var.as_tensor()) else {
                    continue;
                };
                let new = with_host::<f32, _>(g, "sgd", |g| {
                    with_host::<f32, _>(var.as_tensor(), "sgd", |p| {
                        let first = buf.is_empty();
                        if first && momentum != 0.0 {
                            buf.resize(p.len(), 0.0);
                        }
                        let mut out = Vec::with_capacity(p.len());
                        for (i, (&g, &p)) in g.iter().zip(p).enumerate() {
                            let mut d = g + wd * p;
                            if momentum != 0.0 {
                                let b = &mut buf[i];
                                *b = if first {
                                    d
                                } else {
                                    momentum * *b + (1.0 - dampening) * d
                                };
                                d = if c.nesterov { d + momentum * *b } else { *b };
                            }
                            out.push(p - lr * d);
                        }
                        Ok(out)
                    })
                })?;
                var.set(&Tensor::from_vec(new, var.shape(), var.device())?)?;
            }
        }
        Ok(())
    }
    fn learning_rate(&self) -> f64 {
        self.config.learning_rate
    }
    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.config.learning_rate = learning_rate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Runs `opt` on `p` with gradients `gs` (loss = sum(g * p)) and returns p after each step.
    fn run(opt: &mut Sgd, p: &Var, gs: &[[f32; 2]]) -> Vec<Vec<f32>> {
        gs.iter()
            .map(|g| {
                let g = Tensor::new(g, &Device::Cpu).unwrap();
                let loss = (p.as_tensor() * g).unwrap().sum_all().unwrap();
                opt.step(&loss.backward().unwrap()).unwrap();
                p.as_tensor().to_vec1::<f32>().unwrap()
            })
            .collect()
    }

    fn close(got: &[Vec<f32>], want: &[[f32; 2]]) {
        for (g, w) in got.iter().zip(want) {
            for (a, b) in g.iter().zip(w) {
                assert!((a - b).abs() < 1e-6, "got {got:?}, want {want:?}");
            }
        }
    }

    // The expected values come from this numpy transcription of torch.optim.SGD
    // (torch/optim/sgd.py, _single_tensor_sgd), run with numpy 2.4.6 in /work/main/.venv:
    //
    //   def sgd(p, gs, lr, momentum=0, dampening=0, nesterov=False, wd=0):
    //       p = np.array(p, np.float64); buf = None; out = []
    //       for g in gs:
    //           d = np.array(g) + wd * p
    //           if momentum != 0:
    //               buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
    //               d = d + momentum * buf if nesterov else buf
    //           p = p - lr * d; out.append(p)
    //       return out
    //   gs = [[0.5, -1.0], [-1.0, 2.0], [0.25, 0.25]]
    const GS: [[f32; 2]; 3] = [[0.5, -1.0], [-1.0, 2.0], [0.25, 0.25]];

    #[test]
    fn plain_sgd_by_hand() {
        // p = [1, -2], lr 0.1: [0.95, -1.9], [1.05, -2.1], [1.025, -2.125]
        let p = Var::new(&[1f32, -2.0], &Device::Cpu).unwrap();
        let cfg = SgdConfig {
            learning_rate: 0.1,
            ..Default::default()
        };
        let mut opt = Sgd::new(vec![ParamGroup::new(vec![p.clone()])], cfg).unwrap();
        close(
            &run(&mut opt, &p, &GS),
            &[[0.95, -1.9], [1.05, -2.1], [1.025, -2.125]],
        );
    }

    #[test]
    fn momentum_dampening_and_weight_decay_match_pytorch() {
        // sgd([1, -2], gs, lr=0.1, momentum=0.9, dampening=0.1, wd=0.01)
        // step 1: d = [0.51, -1.02], buf = d, p = [0.949, -1.898]
        // step 2: d = [-0.99051, 1.98102], buf = 0.9*buf + 0.9*d = [-0.432459, 0.864918],
        //         p = [0.9922459, -1.9844918]
        // step 3: d = [0.25992246, 0.23015508], buf = [-0.1552829, 0.9855658],
        //         p = [1.00777419, -2.08304838]
        let p = Var::new(&[1f32, -2.0], &Device::Cpu).unwrap();
        let cfg = SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut opt = Sgd::new(vec![ParamGroup::new(vec![p.clone()])], cfg).unwrap();
        close(
            &run(&mut opt, &p, &GS),
            &[
                [0.949, -1.898],
                [0.992_245_9, -1.984_491_8],
                [1.007_774_2, -2.083_048_4],
            ],
        );
    }

    #[test]
    fn nesterov_matches_pytorch() {
        // sgd([1, -2], gs, lr=0.1, momentum=0.9, nesterov=True, wd=0.01)
        // step 1: d = [0.51, -1.02], buf = d, d' = d + 0.9 buf = [0.969, -1.938], p = [0.9031, -1.8062]
        // step 2: d = [-0.990969, 1.981938], buf = [-0.531969, 1.063938],
        //         d' = [-1.4697411, 2.9394822], p = [1.05007411, -2.10014822]
        // step 3: d = [0.26050074, 0.22899852], buf = [-0.21827136, 1.18654272],
        //         d' = [0.06405652, 1.29688697], p = [1.04366846, -2.22983692]
        let p = Var::new(&[1f32, -2.0], &Device::Cpu).unwrap();
        let cfg = SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut opt = Sgd::new(vec![ParamGroup::new(vec![p.clone()])], cfg).unwrap();
        close(
            &run(&mut opt, &p, &GS),
            &[
                [0.9031, -1.8062],
                [1.050_074_1, -2.100_148_2],
                [1.043_668_5, -2.229_837],
            ],
        );
    }

    #[test]
    fn groups_have_their_own_rate_and_decay() {
        // group a: base lr 0.1 and wd 0.5; group b: lr 1.0, no decay. One step, gradient [1, 1]:
        // a: p = [2, 2] - 0.1 * ([1, 1] + 0.5 * [2, 2]) = [1.8, 1.8]; b: p = [2, 2] - 1.0 * [1, 1] = [1, 1].
        // Then the base rate changes to 0.2 (a schedule): a follows it, b keeps its own.
        // a: [1.8, 1.8] - 0.2 * ([1, 1] + 0.5 * [1.8, 1.8]) = [1.42, 1.42]; b: [0, 0].
        let a = Var::new(&[2f32, 2.0], &Device::Cpu).unwrap();
        let b = Var::new(&[2f32, 2.0], &Device::Cpu).unwrap();
        let cfg = SgdConfig {
            learning_rate: 0.1,
            weight_decay: 0.5,
            ..Default::default()
        };
        let groups = vec![
            ParamGroup::new(vec![a.clone()]),
            ParamGroup::new(vec![b.clone()])
                .with_learning_rate(1.0)
                .with_weight_decay(0.0),
        ];
        let mut opt = Sgd::new(groups, cfg).unwrap();
        let step = |opt: &mut Sgd| {
            let loss =
                (a.as_tensor().sum_all().unwrap() + b.as_tensor().sum_all().unwrap()).unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            (
                a.as_tensor().to_vec1::<f32>().unwrap(),
                b.as_tensor().to_vec1::<f32>().unwrap(),
            )
        };
        close(&[step(&mut opt).0], &[[1.8, 1.8]]);
        assert_eq!(b.as_tensor().to_vec1::<f32>().unwrap(), [1.0, 1.0]);
        opt.set_learning_rate(0.2);
        let (a2, b2) = step(&mut opt);
        close(&[a2], &[[1.42, 1.42]]);
        assert_eq!(b2, [0.0, 0.0]);
    }

    #[test]
    fn bad_settings_are_errors() {
        let p = || {
            vec![ParamGroup::new(vec![
                Var::new(&[1f32], &Device::Cpu).unwrap()
            ])]
        };
        let e = Sgd::new(
            p(),
            SgdConfig {
                nesterov: true,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nesterov needs momentum > 0"), "{e}");
        let e = Sgd::new(
            p(),
            SgdConfig {
                learning_rate: -1.0,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("learning rate -1"), "{e}");
        let groups = vec![ParamGroup::new(vec![]).with_weight_decay(f64::NAN)];
        assert!(Sgd::new(groups, SgdConfig::default()).is_err());
    }
}
