//! FULLY_CONNECTED: inputs (input, weights [out, in], bias?).

use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, activation_to_fb, OpDef, Options};
use crate::graph::{Graph, Node, Op};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::FULLY_CONNECTED,
    inputs: 2..=3,
    import,
    export,
    version,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let Some(o) = op.builtin_options_as_fully_connected_options() else {
        return Ok(Op::FullyConnected {
            activation: crate::graph::Activation::None,
            keep_num_dims: false,
        });
    };
    if o.weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT {
        return Err(format!(
            "unsupported weights_format {}",
            o.weights_format().variant_name().unwrap_or("unknown")
        ));
    }
    if o.asymmetric_quantize_inputs() {
        return Err("unsupported asymmetric_quantize_inputs (hybrid model)".into());
    }
    Ok(Op::FullyConnected {
        activation: activation_from_fb(o.fused_activation_function())?,
        keep_num_dims: o.keep_num_dims(),
    })
}

fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::FullyConnected {
        activation,
        keep_num_dims,
    } = op
    else {
        return Options::NONE;
    };
    let t = fb::FullyConnectedOptions::create(
        fbb,
        &fb::FullyConnectedOptionsArgs {
            fused_activation_function: activation_to_fb(*activation),
            keep_num_dims: *keep_num_dims,
            ..Default::default()
        },
    );
    Options {
        kind: fb::BuiltinOptions::FullyConnectedOptions,
        table: Some(t.as_union_value()),
    }
}

/// int8 is version 4 (TF's converter), float 1, either 5 with `keep_num_dims`.
fn version(op: &Op, graph: &Graph, node: &Node) -> i32 {
    match op {
        Op::FullyConnected {
            keep_num_dims: true,
            ..
        } => 5,
        _ if super::float_input(graph, node) => 1,
        _ => 4,
    }
}
