//! Builds a graph node by node: initializers, typed inputs and outputs,
//! standard operators with attributes.

use crate::proto::*;

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
    /// One string.
    Str(String),
}

/// Every integer of magnitude up to this (2^24) is exact in float32.
pub const F32_EXACT: u64 = 1 << 24;

/// Every integer of magnitude up to this (2^53) is exact in float64.
pub const F64_EXACT: u64 = 1 << 53;

/// A graph under construction.
#[derive(Clone, Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    nodes: usize,
}

/// A dimension: a fixed size, or `None` for the symbolic batch size `N`.
pub type Dim = Option<usize>;

fn value_info(name: &str, dtype: DataType, shape: &[Dim], doc: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(dtype as i32),
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|d| match d {
                            Some(v) => Dimension {
                                dim_value: Some(*v as i64),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
        doc_string: (!doc.is_empty()).then(|| doc.into()),
    }
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Self {
        GraphBuilder {
            graph: GraphProto {
                name: Some(name.into()),
                ..GraphProto::default()
            },
            nodes: 0,
        }
    }

    /// Declares a graph input.
    pub fn input(&mut self, name: &str, dtype: DataType, shape: &[Dim], doc: &str) {
        self.graph.input.push(value_info(name, dtype, shape, doc));
    }

    /// Declares a graph output.
    pub fn output(&mut self, name: &str, dtype: DataType, shape: &[Dim], doc: &str) {
        self.graph.output.push(value_info(name, dtype, shape, doc));
    }

    /// Adds a float32 constant; returns its name.
    pub fn f32_const(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.raw_const(
            name,
            dims,
            DataType::Float,
            data.iter().flat_map(|v| v.to_le_bytes()),
        )
    }

    /// Adds integers as an integer-valued float32 constant (as DORY's and MATCH's
    /// integer networks hold them); returns its name. Exact for magnitudes up
    /// to 2^24 ([`F32_EXACT`]); the caller checks its bounds.
    pub fn int_f32_const(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        let f: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        self.f32_const(name, dims, &f)
    }

    /// Adds a float64 constant; returns its name.
    pub fn f64_const(&mut self, name: &str, dims: &[usize], data: &[f64]) -> String {
        self.raw_const(
            name,
            dims,
            DataType::Double,
            data.iter().flat_map(|v| v.to_le_bytes()),
        )
    }

    /// Adds an int64 constant; returns its name.
    pub fn i64_const(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        self.raw_const(
            name,
            dims,
            DataType::Int64,
            data.iter().flat_map(|v| v.to_le_bytes()),
        )
    }

    fn raw_const(
        &mut self,
        name: &str,
        dims: &[usize],
        dtype: DataType,
        bytes: impl Iterator<Item = u8>,
    ) -> String {
        self.graph.initializer.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(dtype as i32),
            name: Some(name.into()),
            doc_string: None,
            raw_data: Some(bytes.collect()),
        });
        name.to_string()
    }

    /// Adds node `op` reading `inputs`, writing one output called `output`; returns `output`.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: &str,
        attrs: &[(&str, Attr)],
        doc: &str,
    ) -> String {
        self.nodes += 1;
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: Some(format!("{output}_{op}")),
            op_type: Some(op.into()),
            domain: None,
            attribute: attrs.iter().map(|(n, a)| attribute(n, a)).collect(),
            doc_string: (!doc.is_empty()).then(|| doc.into()),
            metadata_props: Vec::new(),
        });
        output.to_string()
    }

    /// The model: this graph with the default operator set `opset`, written by `producer`.
    pub fn finish(
        self,
        opset: i64,
        producer: &str,
        doc: &str,
        metadata: &[(String, String)],
    ) -> ModelProto {
        ModelProto {
            ir_version: Some(10),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(opset),
            }],
            producer_name: Some(producer.into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            domain: None,
            model_version: Some(1),
            doc_string: (!doc.is_empty()).then(|| doc.into()),
            graph: Some(self.graph),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
        }
    }
}

fn attribute(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: Some(name.into()),
        ..AttributeProto::default()
    };
    match a {
        Attr::Int(i) => {
            p.r#type = Some(attribute_type::INT);
            p.i = Some(*i);
        }
        Attr::Ints(v) => {
            p.r#type = Some(attribute_type::INTS);
            p.ints = v.clone();
        }
        Attr::Float(f) => {
            p.r#type = Some(attribute_type::FLOAT);
            p.f = Some(*f);
        }
        Attr::Str(s) => {
            p.r#type = Some(attribute_type::STRING);
            p.s = Some(s.as_bytes().to_vec());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_round_trips_through_its_bytes() {
        let mut g = GraphBuilder::new("g");
        g.input("x", DataType::Float, &[None, Some(3)], "");
        let w = g.f32_const("w", &[3], &[1.0, 2.0, 3.0]);
        g.node(
            "Mul",
            &["x", &w],
            "y",
            &[("note", Attr::Str("s".into()))],
            "doc",
        );
        g.output("y", DataType::Float, &[None, Some(3)], "");
        let m = g.finish(17, "t", "", &[("k".into(), "v".into())]);
        let bytes = m.to_bytes();
        let back = ModelProto::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        let graph = back.graph.unwrap();
        assert_eq!(graph.initializer[0].raw_data.as_ref().unwrap().len(), 12);
        assert_eq!(graph.node[0].op_type.as_deref(), Some("Mul"));
        // field 7 (graph) and 8 (opset_import) are where onnx.proto puts them:
        // ir_version (field 1, varint) is the first byte, 0x08, then 10
        assert_eq!(&bytes[..2], &[0x08, 10]);
    }
}
