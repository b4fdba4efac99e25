//! The recogniser: an aligned crop in its preallocated input tensor, an L2-normalised embedding out.

use ort::session::Session;
use ort::value::TensorRef;

use super::align::Normalisation;
use super::descriptor::{ColourOrder, ModelDescriptor};
use super::VisionError;

/// One recogniser session and its input tensor (allocated once).
pub struct Recogniser {
    session: Session,
    input_name: String,
    output_name: String,
    /// Side of the square crop.
    pub(crate) side: usize,
    /// The input tensor, NCHW, written by the aligner.
    pub(crate) input: Vec<f32>,
    /// The crop's luma, written by the aligner, read by the quality gate.
    pub(crate) luma: Vec<f32>,
    pub(crate) norm: Normalisation,
    dim: usize,
}

impl Recogniser {
    pub(crate) fn new(session: Session, d: &ModelDescriptor) -> Result<Recogniser, VisionError> {
        if d.input.width != d.input.height || d.input.width < 66 {
            return Err(VisionError::Config(format!(
                "{}: the recogniser's input must be square and at least 66 px",
                d.id
            )));
        }
        if !session.inputs().iter().any(|i| i.name() == d.input.name) {
            return Err(VisionError::WrongModel(format!(
                "{}: the model has no input {:?}",
                d.id, d.input.name
            )));
        }
        if !session.outputs().iter().any(|o| o.name() == d.output) {
            return Err(VisionError::WrongModel(format!(
                "{}: the model has no output {:?}",
                d.id, d.output
            )));
        }
        let side = d.input.width as usize;
        Ok(Recogniser {
            session,
            input_name: d.input.name.clone(),
            output_name: d.output.clone(),
            side,
            input: vec![0.0; 3 * side * side],
            luma: vec![0.0; side * side],
            norm: Normalisation {
                order: match d.input.colour {
                    ColourOrder::Rgb => [0, 1, 2],
                    ColourOrder::Bgr => [2, 1, 0],
                },
                mean: d.input.mean,
                scale: d.input.scale,
            },
            dim: d.dim,
        })
    }

    /// Runs the model on the crop in the input tensor; writes the L2-normalised embedding.
    pub(crate) fn run(&mut self, out: &mut Vec<f32>) -> Result<(), VisionError> {
        let s = self.side;
        let tensor = TensorRef::from_array_view(([1usize, 3, s, s], self.input.as_slice()))
            .map_err(VisionError::runtime)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(VisionError::runtime)?;
        let (_, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(VisionError::runtime)?;
        if data.len() != self.dim {
            return Err(VisionError::WrongModel(format!(
                "the recogniser returned {} values, its descriptor says {}",
                data.len(),
                self.dim
            )));
        }
        let norm = data
            .iter()
            .map(|&v| v as f64 * v as f64)
            .sum::<f64>()
            .sqrt();
        if !(norm.is_finite() && norm > 1e-12) {
            return Err(VisionError::WrongModel(
                "the recogniser returned a zero or non-finite embedding".into(),
            ));
        }
        out.clear();
        out.extend(data.iter().map(|&v| (v as f64 / norm) as f32));
        Ok(())
    }
}
