//! Classification metrics: accuracy and a confusion matrix with precision, recall and F1.
//!
//! Division by zero gives 0, like scikit-learn's `zero_division=0`. Macro
//! averages are over all `classes` classes, like scikit-learn with
//! `labels=range(classes)` (so a class absent from both truth and predictions
//! counts as 0).

use std::fmt;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

/// Fraction of positions where `pred` equals `truth`; 0 for empty input.
///
/// # Panics
/// If the slices have different lengths.
pub fn accuracy(pred: &[usize], truth: &[usize]) -> f64 {
    assert_eq!(
        pred.len(),
        truth.len(),
        "accuracy: {} predictions but {} labels",
        pred.len(),
        truth.len()
    );
    if pred.is_empty() {
        return 0.0;
    }
    let hits = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    hits as f64 / pred.len() as f64
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Number of classes.
    pub classes: usize,
    /// `counts[truth][pred]`.
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Counts predictions against labels; errors on a length mismatch or a class `>= classes`.
    pub fn from_predictions(pred: &[usize], truth: &[usize], classes: usize) -> Result<Self> {
        if pred.len() != truth.len() {
            return Err(Error::Shape(format!(
                "confusion matrix: {} predictions but {} labels",
                pred.len(),
                truth.len()
            )));
        }
        let mut m = Self::new(classes);
        for (i, (&p, &t)) in pred.iter().zip(truth).enumerate() {
            if p >= classes || t >= classes {
                return Err(Error::Shape(format!(
                    "confusion matrix: sample {i} has label {t}, prediction {p}; expected classes 0..{classes}"
                )));
            }
            m.counts[t][p] += 1;
        }
        Ok(m)
    }

    /// Adds one (truth, prediction) pair; panics if either is `>= classes`.
    pub fn add(&mut self, truth: usize, pred: usize) {
        self.counts[truth][pred] += 1;
    }

    /// Total number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Number of correct predictions (the diagonal).
    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.counts[c][c]).sum()
    }

    /// Fraction of correct predictions; 0 if empty.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Macro accuracy: the mean recall of the classes that occur; 0 if none do.
    pub fn macro_accuracy(&self) -> f64 {
        let present: Vec<usize> = (0..self.classes).filter(|&c| self.support(c) > 0).collect();
        if present.is_empty() {
            return 0.0;
        }
        present.iter().map(|&c| self.recall(c)).sum::<f64>() / present.len() as f64
    }

    /// Samples whose true class is `c` (row sum).
    pub fn support(&self, c: usize) -> u64 {
        self.counts[c].iter().sum()
    }

    /// Samples predicted as `c` (column sum).
    pub fn predicted(&self, c: usize) -> u64 {
        self.counts.iter().map(|row| row[c]).sum()
    }

    /// Precision of class `c`: correct / predicted as `c`; 0 if never predicted.
    pub fn precision(&self, c: usize) -> f64 {
        ratio(self.counts[c][c], self.predicted(c))
    }

    /// Recall of class `c`: correct / truly `c`; 0 if no support.
    pub fn recall(&self, c: usize) -> f64 {
        ratio(self.counts[c][c], self.support(c))
    }

    /// F1 of class `c`: `2tp / (2tp + fp + fn)`, the harmonic mean of precision and recall; 0 if undefined.
    pub fn f1(&self, c: usize) -> f64 {
        let tp = self.counts[c][c];
        let fp = self.predicted(c) - tp;
        let fn_ = self.support(c) - tp;
        ratio(2 * tp, 2 * tp + fp + fn_)
    }

    fn mean(&self, f: impl Fn(usize) -> f64) -> f64 {
        if self.classes == 0 {
            return 0.0;
        }
        (0..self.classes).map(f).sum::<f64>() / self.classes as f64
    }

    /// Unweighted mean of per-class precision.
    pub fn macro_precision(&self) -> f64 {
        self.mean(|c| self.precision(c))
    }

    /// Unweighted mean of per-class recall.
    pub fn macro_recall(&self) -> f64 {
        self.mean(|c| self.recall(c))
    }

    /// Unweighted mean of per-class F1.
    pub fn macro_f1(&self) -> f64 {
        self.mean(|c| self.f1(c))
    }
}

impl fmt::Display for ConfusionMatrix {
    /// The matrix (rows truth, columns predicted), then per-class precision, recall, F1 and support.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.classes;
        let max = self.counts.iter().flatten().copied().max().unwrap_or(0);
        let w = max
            .to_string()
            .len()
            .max(n.saturating_sub(1).to_string().len())
            .max(3);
        let lw = "truth\\pred".len();
        writeln!(f, "confusion matrix (rows: truth, columns: predicted)")?;
        write!(f, "{:>lw$}", "truth\\pred")?;
        for c in 0..n {
            write!(f, " {c:>w$}")?;
        }
        writeln!(f)?;
        for (t, row) in self.counts.iter().enumerate() {
            write!(f, "{t:>lw$}")?;
            for v in row {
                write!(f, " {v:>w$}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        let sw = self.total().to_string().len().max("support".len());
        writeln!(
            f,
            "{:>8} {:>9} {:>9} {:>9} {:>sw$}",
            "class", "precision", "recall", "f1", "support"
        )?;
        for c in 0..n {
            writeln!(
                f,
                "{c:>8} {:>9.4} {:>9.4} {:>9.4} {:>sw$}",
                self.precision(c),
                self.recall(c),
                self.f1(c),
                self.support(c)
            )?;
        }
        writeln!(
            f,
            "{:>8} {:>9.4} {:>9.4} {:>9.4} {:>sw$}",
            "macro",
            self.macro_precision(),
            self.macro_recall(),
            self.macro_f1(),
            self.total()
        )?;
        write!(
            f,
            "{:>8} {:>9} {:>9} {:>9.4} {:>sw$}",
            "accuracy",
            "",
            "",
            self.accuracy(),
            self.total()
        )
    }
}

impl Serialize for ConfusionMatrix {
    /// The counts plus every derived metric, for JSON reports.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let per = |g: &dyn Fn(usize) -> f64| (0..self.classes).map(g).collect::<Vec<f64>>();
        let mut st = s.serialize_struct("ConfusionMatrix", 11)?;
        st.serialize_field("classes", &self.classes)?;
        st.serialize_field("counts", &self.counts)?;
        st.serialize_field("total", &self.total())?;
        st.serialize_field("accuracy", &self.accuracy())?;
        st.serialize_field("precision", &per(&|c| self.precision(c)))?;
        st.serialize_field("recall", &per(&|c| self.recall(c)))?;
        st.serialize_field("f1", &per(&|c| self.f1(c)))?;
        st.serialize_field(
            "support",
            &(0..self.classes)
                .map(|c| self.support(c))
                .collect::<Vec<_>>(),
        )?;
        st.serialize_field("macro_precision", &self.macro_precision())?;
        st.serialize_field("macro_recall", &self.macro_recall())?;
        st.serialize_field("macro_f1", &self.macro_f1())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    // truth: 0 0 0 0 1 1 1 2 2 2
    // pred:  0 0 1 2 1 1 0 2 2 1
    const TRUTH: [usize; 10] = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
    const PRED: [usize; 10] = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1];

    #[test]
    fn three_class_example_by_hand() {
        let m = ConfusionMatrix::from_predictions(&PRED, &TRUTH, 3).unwrap();
        // Row truth=0: predicted 0,0,1,2 -> [2,1,1]
        // Row truth=1: predicted 1,1,0   -> [1,2,0]
        // Row truth=2: predicted 2,2,1   -> [0,1,2]
        assert_eq!(m.counts, vec![vec![2, 1, 1], vec![1, 2, 0], vec![0, 1, 2]]);
        // Column sums (predicted): 3, 4, 3; row sums (support): 4, 3, 3.
        assert_eq!((m.predicted(0), m.predicted(1), m.predicted(2)), (3, 4, 3));
        assert_eq!((m.support(0), m.support(1), m.support(2)), (4, 3, 3));
        // Accuracy: diagonal 2+2+2 = 6 of 10.
        close(m.accuracy(), 0.6);
        close(accuracy(&PRED, &TRUTH), 0.6);
        // Class 0: P = 2/3, R = 2/4, F1 = 2*2/(2*2+1+2) = 4/7.
        close(m.precision(0), 2.0 / 3.0);
        close(m.recall(0), 0.5);
        close(m.f1(0), 4.0 / 7.0);
        // Class 1: P = 2/4, R = 2/3, F1 = 4/(4+2+1) = 4/7.
        close(m.precision(1), 0.5);
        close(m.recall(1), 2.0 / 3.0);
        close(m.f1(1), 4.0 / 7.0);
        // Class 2: P = 2/3, R = 2/3, F1 = 4/(4+1+1) = 2/3.
        close(m.precision(2), 2.0 / 3.0);
        close(m.recall(2), 2.0 / 3.0);
        close(m.f1(2), 2.0 / 3.0);
        // Macro P = (2/3 + 1/2 + 2/3)/3 = 11/18; macro R = (1/2 + 2/3 + 2/3)/3 = 11/18.
        close(m.macro_precision(), 11.0 / 18.0);
        close(m.macro_recall(), 11.0 / 18.0);
        // Macro F1 = (4/7 + 4/7 + 2/3)/3 = 38/63.
        close(m.macro_f1(), 38.0 / 63.0);
    }

    #[test]
    fn zero_division_gives_zero() {
        // truth 0 1, pred 0 0, 3 classes: class 1 never predicted, class 2 absent.
        let m = ConfusionMatrix::from_predictions(&[0, 0], &[0, 1], 3).unwrap();
        // Class 0: P = 1/2, R = 1/1, F1 = 2/(2+1+0) = 2/3.
        close(m.f1(0), 2.0 / 3.0);
        // Class 1: never predicted -> P = 0 (0/0), R = 0/1 = 0, F1 = 0.
        close(m.precision(1), 0.0);
        close(m.recall(1), 0.0);
        close(m.f1(1), 0.0);
        // Class 2: no support, never predicted: all 0/0 -> 0.
        close(m.precision(2), 0.0);
        close(m.recall(2), 0.0);
        close(m.f1(2), 0.0);
        // Macro F1 over 3 classes = (2/3 + 0 + 0)/3 = 2/9.
        close(m.macro_f1(), 2.0 / 9.0);
        close(accuracy(&[], &[]), 0.0);
        close(ConfusionMatrix::new(2).accuracy(), 0.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let e = ConfusionMatrix::from_predictions(&[0], &[0, 1], 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "confusion matrix: 1 predictions but 2 labels"
        );
        let e = ConfusionMatrix::from_predictions(&[0, 5], &[0, 1], 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "confusion matrix: sample 1 has label 1, prediction 5; expected classes 0..2"
        );
    }

    #[test]
    fn display_is_an_aligned_table() {
        let m = ConfusionMatrix::from_predictions(&PRED, &TRUTH, 3).unwrap();
        let expected = "\
confusion matrix (rows: truth, columns: predicted)
truth\\pred   0   1   2
         0   2   1   1
         1   1   2   0
         2   0   1   2

   class precision    recall        f1 support
       0    0.6667    0.5000    0.5714       4
       1    0.5000    0.6667    0.5714       3
       2    0.6667    0.6667    0.6667       3
   macro    0.6111    0.6111    0.6032      10
accuracy                        0.6000      10";
        assert_eq!(m.to_string(), expected);
    }

    #[test]
    fn serializes_counts_and_metrics() {
        let m = ConfusionMatrix::from_predictions(&[0, 1, 1], &[0, 1, 0], 2).unwrap();
        let v = serde_json::to_value(&m).unwrap();
        // counts[truth][pred]: truth 0 -> pred 0, 1; truth 1 -> pred 1.
        assert_eq!(v["counts"], serde_json::json!([[1, 1], [0, 1]]));
        assert_eq!(v["support"], serde_json::json!([2, 1]));
        // Class 1 precision 1/2, recall 1/1.
        assert_eq!(v["precision"][1], 0.5);
        assert_eq!(v["recall"][1], 1.0);
        assert_eq!(v["total"], 3);
    }
}
