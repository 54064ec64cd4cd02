//! Shape from images (3D-R2N2, Pix2Vox, 3D-VAE-GAN): a 2D CNN encodes each view to a latent
//! vector, a 3D decoder turns it into occupancy in the view's frame, and the views are turned
//! into one frame and fused. Variational encoders make the decoder a generative shape model.
//!
//! The networks meet shapes and renderers only through [`ViewMap`]s and occupancy arrays: the
//! caller renders (hounsfield-render), voxelises (hounsfield-mesh) and meshes the output.
//!
//! ```
//! use hounsfield_nn::shape::{InputKind, ShapeModel, ShapeModelInfo, ShapeNetConfig};
//!
//! let net = ShapeNetConfig {
//!     in_channels: 1,
//!     image_size: 16,
//!     encoder_channels: vec![4, 8],
//!     latent: 8,
//!     decoder_channels: vec![8, 4],
//!     ..ShapeNetConfig::default()
//! };
//! let info = ShapeModelInfo { net, input: InputKind::Silhouette, trained_steps: 0, context: String::new() };
//! let model = ShapeModel::new(info, 0)?;
//! // Two silhouettes of 16 x 16 seen from cameras 0 and 1 quarter turns about z: 8^3 probabilities.
//! let p = model.probabilities(&[vec![0.0; 256], vec![1.0; 256]], &[0, 1], None)?;
//! assert_eq!(p.len(), 512);
//! # Ok::<(), hounsfield_nn::Error>(())
//! ```

mod data;
mod gan;
mod net;
mod train;

pub use data::{
    ALBEDO, AMBIENT, InputKind, ShapeBatch, ShapeExample, ShapeSet, ViewAugment, ViewMap,
    encode_view, make_batch,
};
pub use gan::{AdversarialConfig, Discriminator, hinge_discriminator_loss};
pub use net::{Fusion, ShapeNet, ShapeNetConfig, ShapeOutput, turn_z};
pub use train::{
    Extras, OccupancyLoss, ShapeEvent, ShapeModel, ShapeModelInfo, ShapeTrainConfig,
    ShapeTrainReport, ShapeTrainer, ShapeValidation, StepLosses, iou, mean_iou,
};
