//! Helpers shared by the integration tests.

use hounsfield_core::Volume;

/// IoU of `field > 0` with the voxels whose centres satisfy `inside`.
pub fn iou(field: &Volume<f32>, inside: impl Fn([f64; 3]) -> bool) -> f64 {
    let [nz, ny, nx] = field.shape();
    let (mut both, mut either) = (0usize, 0usize);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let a = field.data()[[z, y, x]] > 0.0;
                let b = inside(field.voxel_to_physical([z, y, x]));
                both += usize::from(a && b);
                either += usize::from(a || b);
            }
        }
    }
    both as f64 / either as f64
}
