//! Training and test data for learned reconstruction: random-ellipse phantoms or random heads,
//! their exact line integrals (analytic and supersampled, so no inverse crime with the Joseph
//! projector), noise, and the prior image of the noisy data that post-processing networks
//! start from (FBP/FDK, or the normalised backprojection where FBP refuses the scan).

use ndarray::{ArrayD, ArrayViewD};
use serde::{Deserialize, Serialize};

use crate::{
    FbpOptions, ImageGrid, IterOptions, NoiseOptions, Phantom, Projector, ScanGeometry, add_noise,
    fbp, no_monitor, sirt, uniform_angles,
};
use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Error, Result};

/// Noise on simulated line integrals.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum DataNoise {
    /// Exact data.
    None,
    /// White Gaussian noise of `relative` times the sinogram's mean absolute value (the
    /// Learned Primal-Dual paper's 5%).
    Gaussian {
        /// Standard deviation as a fraction of the mean absolute line integral.
        relative: f64,
    },
    /// Poisson counts of `photons` incident photons per pixel, line integrals scaled by
    /// `attenuation` (1/mm per unit of phantom density) before and divided by it after.
    Poisson {
        /// Incident photons per detector pixel and view.
        photons: f64,
        /// Linear attenuation of density 1, in 1/mm (water: about 0.02).
        attenuation: f64,
    },
}

/// One simulated example: the true image, the noisy data, and FBP/FDK of that data.
#[derive(Clone, Debug)]
pub struct SimulatedCase {
    /// The phantom rasterised on the grid (supersampled pixel averages).
    pub truth: ArrayD<f32>,
    /// Noisy line integrals, shaped like the scan's projections.
    pub sinogram: ArrayD<f32>,
    /// The [`Prior`] of the noisy data: FBP (FDK for cone beams) unless the simulation says
    /// otherwise.
    pub fbp: ArrayD<f32>,
}

/// A scan, a noise model and how phantoms are drawn: a source of training pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    /// Image grid.
    pub grid: ImageGrid,
    /// Scan geometry.
    pub scan: ScanGeometry,
    /// Noise on the data.
    pub noise: DataNoise,
    /// Sub-samples per pixel side (truth) and per detector pixel side (data).
    pub supersample: usize,
    /// Random phantoms hold `min..=max` ellipses or ellipsoids (for heads: soft-tissue blobs).
    pub shapes: [usize; 2],
    /// Which random phantoms are drawn.
    #[serde(default)]
    pub phantoms: PhantomFamily,
    /// The analytic image each case carries (what post-processing networks start from).
    #[serde(default)]
    pub prior: Prior,
}

/// The first image made from the data, before any network: FBP/FDK where the scan allows it, or
/// the normalised backprojection (SIRT's first step from zero, `C A^T R y`: each voxel the mean
/// over its rays of their mean density) for scans FBP refuses, such as two radiographs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prior {
    /// FBP (FDK for circular cone beams), the default filter.
    #[default]
    Fbp,
    /// `C A^T R y` with the Joseph projector.
    Backprojection,
}

impl Prior {
    /// Its key in configurations: fbp or backprojection.
    pub fn key(self) -> &'static str {
        match self {
            Prior::Fbp => "fbp",
            Prior::Backprojection => "backprojection",
        }
    }

    /// Its name in reports: fbp, fdk (circular cone beams) or backprojection.
    pub fn name(self, scan: &ScanGeometry) -> &'static str {
        match (self, scan) {
            (Prior::Fbp, ScanGeometry::Cone { .. }) => "fdk",
            (Prior::Fbp, _) => "fbp",
            (Prior::Backprojection, _) => "backprojection",
        }
    }

    /// The prior image of projections `y` of `scan` on `grid`.
    pub fn image(
        self,
        grid: &ImageGrid,
        scan: &ScanGeometry,
        y: ArrayViewD<'_, f32>,
    ) -> Result<ArrayD<f32>> {
        match self {
            Prior::Fbp => fbp(scan, grid, y, &FbpOptions::default()),
            Prior::Backprojection => {
                let op = Projector::new(grid.clone(), scan.clone())?;
                sirt(&op, y, None, 1.0, &IterOptions::iterations(1), &mut no_monitor)
            }
        }
    }
}

/// The family random phantoms are drawn from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhantomFamily {
    /// Random ellipses or ellipsoids anywhere ([`Phantom::random`]).
    #[default]
    Ellipsoids,
    /// Random heads: a skull shell around soft-tissue blobs ([`Phantom::random_head`]); 3D only.
    Heads,
}

impl Simulation {
    /// The Learned Primal-Dual paper's ellipse setting: `size^2` pixels of 1 mm, 30 parallel
    /// views over 180 degrees, a detector as wide as the image's diagonal, 5% Gaussian noise,
    /// 3-10 ellipses per phantom.
    pub fn lpd_ellipses(size: usize) -> Result<Self> {
        let grid = ImageGrid::new_2d(size, size, 1.0)?;
        let cols = (size as f64 * std::f64::consts::SQRT_2).ceil() as usize;
        let scan =
            ScanGeometry::parallel_2d(uniform_angles(30, 0.0, std::f64::consts::PI), cols, 1.0)?;
        Ok(Self {
            grid,
            scan,
            noise: DataNoise::Gaussian { relative: 0.05 },
            supersample: 4,
            shapes: [3, 10],
            phantoms: PhantomFamily::Ellipsoids,
            prior: Prior::Fbp,
        })
    }

    /// Checks the parts and their agreement.
    pub fn validate(&self) -> Result<()> {
        self.grid.validate()?;
        self.scan.validate()?;
        self.scan.image_shape(&self.grid)?;
        if !(1..=16).contains(&self.supersample) {
            return Err(Error::param(
                "supersample",
                format!("must be 1..=16, found {}", self.supersample),
            ));
        }
        if self.shapes[0] > self.shapes[1] || self.shapes[1] > 1000 {
            return Err(Error::param(
                "shapes",
                format!("need min <= max <= 1000, found {:?}", self.shapes),
            ));
        }
        if self.phantoms == PhantomFamily::Heads && self.scan.dims() != 3 {
            return Err(Error::param("phantoms", "random heads are 3D; the scan is 2D"));
        }
        let bad = |what: &'static str, v: f64| {
            Error::param(what, format!("must be finite and > 0, found {v}"))
        };
        match self.noise {
            DataNoise::None => {}
            DataNoise::Gaussian { relative } if !(relative.is_finite() && relative >= 0.0) => {
                return Err(bad("relative", relative));
            }
            DataNoise::Poisson { photons, .. } if !(photons.is_finite() && photons > 0.0) => {
                return Err(bad("photons", photons));
            }
            DataNoise::Poisson { attenuation, .. }
                if !(attenuation.is_finite() && attenuation > 0.0) =>
            {
                return Err(bad("attenuation", attenuation));
            }
            _ => {}
        }
        Ok(())
    }

    /// A random phantom of the scan's dimension and [`Simulation::phantoms`]' family inside 90%
    /// of the grid's inscribed disc or ball, the same for the same `seed`.
    pub fn random_phantom(&self, seed: u64) -> Result<Phantom> {
        self.validate()?;
        let dims = self.scan.dims();
        let [nz, ny, nx] = self.grid.shape;
        let [sx, sy, sz] = self.grid.spacing;
        let mut half = (nx as f64 * sx).min(ny as f64 * sy) / 2.0;
        if dims == 3 {
            half = half.min(nz as f64 * sz / 2.0);
        }
        let span = (self.shapes[1] - self.shapes[0] + 1) as u64;
        let count =
            self.shapes[0] + (SplitMix64::new(seed ^ 0xe111_95e5).next_u64() % span) as usize;
        match self.phantoms {
            PhantomFamily::Ellipsoids => Phantom::random(dims, count, 0.9 * half, seed),
            PhantomFamily::Heads => Phantom::random_head(0.9 * half, count, seed),
        }
    }

    /// Truth, noisy data and FBP of `phantom`; the noise is drawn from `seed`.
    pub fn case(&self, phantom: &Phantom, seed: u64) -> Result<SimulatedCase> {
        self.validate()?;
        let truth = phantom.rasterize(&self.grid, self.supersample)?;
        let clean = phantom.project(&self.scan, self.supersample)?;
        let sinogram = match self.noise {
            DataNoise::None => clean,
            DataNoise::Gaussian { relative } => {
                let mean = clean.iter().map(|v| f64::from(v.abs())).sum::<f64>()
                    / clean.len().max(1) as f64;
                let sigma = relative * mean;
                let mut rng = SplitMix64::new(seed);
                clean.mapv(|v| v + (sigma * rng.normal()) as f32)
            }
            DataNoise::Poisson { photons, attenuation } => {
                let scaled = clean.mapv(|v| v * attenuation as f32);
                add_noise(scaled.view(), &NoiseOptions::poisson(photons, seed))?
                    .mapv(|v| v / attenuation as f32)
            }
        };
        let fbp = self.prior.image(&self.grid, &self.scan, sinogram.view())?;
        Ok(SimulatedCase { truth, sinogram, fbp })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    #[test]
    fn the_lpd_setting_has_the_papers_sizes_and_noise_level() {
        let sim = Simulation::lpd_ellipses(128).unwrap();
        let phantom = sim.random_phantom(3).unwrap();
        assert!((3..=10).contains(&phantom.shapes.len()));
        let case = sim.case(&phantom, 4).unwrap();
        assert_eq!(case.truth.shape(), &[128, 128]);
        assert_eq!(case.sinogram.shape(), &[30, 182]);
        assert_eq!(case.fbp.shape(), &[128, 128]);
        // The noise's standard deviation is 5% of the mean |p| (to 3%, 5460 samples).
        let clean = phantom.project(&sim.scan, 4).unwrap();
        let mean = clean.iter().map(|v| f64::from(v.abs())).sum::<f64>() / clean.len() as f64;
        let diff: Vec<f64> =
            case.sinogram.iter().zip(&clean).map(|(a, b)| f64::from(a - b)).collect();
        let sd = (diff.iter().map(|d| d * d).sum::<f64>() / diff.len() as f64).sqrt();
        assert!((sd / (0.05 * mean) - 1.0).abs() < 0.03, "sd {sd} vs {}", 0.05 * mean);
        // Same seeds, same case; the truth stays inside the image.
        let again = sim.case(&sim.random_phantom(3).unwrap(), 4).unwrap();
        assert_eq!(again.sinogram, case.sinogram);
        let t = case.truth.view().into_dimensionality::<ndarray::Ix2>().unwrap();
        let border: f32 = t.row(0).iter().chain(t.column(127).iter()).map(|v| v.abs()).sum();
        assert_eq!(border, 0.0);
    }

    #[test]
    fn poisson_data_is_unbiased_and_bad_settings_are_errors() {
        let mut sim = Simulation::lpd_ellipses(32).unwrap();
        sim.noise = DataNoise::Poisson { photons: 1e6, attenuation: 0.02 };
        let phantom = sim.random_phantom(1).unwrap();
        let case = sim.case(&phantom, 2).unwrap();
        let clean = phantom.project(&sim.scan, 4).unwrap();
        // At 1e6 photons the log-transformed data is within 0.5% of the total integral.
        let (a, b): (f64, f64) = (
            case.sinogram.iter().map(|&v| f64::from(v)).sum(),
            clean.iter().map(|&v| f64::from(v)).sum(),
        );
        assert!((a / b - 1.0).abs() < 5e-3, "{a} vs {b}");
        sim.noise = DataNoise::Gaussian { relative: f64::NAN };
        assert!(sim.case(&phantom, 2).is_err());
        sim.noise = DataNoise::Poisson { photons: 1e4, attenuation: 0.0 };
        assert!(sim.validate().is_err());
        sim.noise = DataNoise::None;
        sim.shapes = [5, 2];
        assert!(sim.random_phantom(1).is_err());
    }

    #[test]
    fn random_heads_are_a_skull_shell_around_brain_inside_the_grid() {
        use crate::geometry::Detector;
        use hounsfield_core::LinearOperator;
        use ndarray::Axis;
        let grid = ImageGrid::new_3d([32, 32, 32], [1.0; 3]).unwrap();
        let scan = ScanGeometry::parallel_3d(
            uniform_angles(2, 0.0, std::f64::consts::PI),
            Detector::panel(40, 40, 1.0, 1.0),
        )
        .unwrap();
        let mut sim = Simulation {
            grid,
            scan,
            noise: DataNoise::None,
            supersample: 1,
            shapes: [2, 4],
            phantoms: PhantomFamily::Heads,
            prior: Prior::Backprojection,
        };
        for seed in 0..4 {
            let head = sim.random_phantom(seed).unwrap();
            // Shell, intracranial space, then 2-4 blobs; the same seed gives the same head.
            assert!((4..=6).contains(&head.shapes.len()), "{} shapes", head.shapes.len());
            assert_eq!(head, sim.random_phantom(seed).unwrap());
            let truth = sim.case(&head, seed).unwrap().truth;
            let t = truth.view().into_dimensionality::<ndarray::Ix3>().unwrap();
            // Nothing on the grid's faces: the head stays inside 90% of the inscribed ball.
            let faces: f32 = [
                t.index_axis(Axis(0), 0),
                t.index_axis(Axis(0), 31),
                t.index_axis(Axis(1), 0),
                t.index_axis(Axis(1), 31),
                t.index_axis(Axis(2), 0),
                t.index_axis(Axis(2), 31),
            ]
            .iter()
            .map(|f| f.iter().map(|v| v.abs()).sum::<f32>())
            .sum();
            assert_eq!(faces, 0.0, "seed {seed}");
            // Along x through the centre, in 0.01 mm steps of the analytic head: air (0), the
            // skull (1), then brain (0.2): the blobs stay in the central half.
            let runs = (0..1600).fold(Vec::<f64>::new(), |mut runs, k| {
                let v = head.value_at([-16.0 + 0.01 * f64::from(k), 0.0, 0.0]);
                if runs.last().is_none_or(|&r| (r - v).abs() > 1e-9) {
                    runs.push(v);
                }
                runs
            });
            assert!(runs.len() >= 3, "{runs:?}");
            let expected = [0.0, 1.0, 0.2];
            assert!(runs.iter().zip(expected).all(|(r, e)| (r - e).abs() < 1e-9), "{runs:?}");
            // Most of the inside is brain (0.2); the shell is thinner than the brain is wide.
            let count = |value: f32| t.iter().filter(|&&v| (v - value).abs() < 1e-6).count();
            let (brain, bone) = (count(0.2), count(1.0));
            assert!(brain > bone && bone > 0, "brain {brain}, skull {bone} voxels");
        }
        // The backprojection prior of a uniform grid is uniform: each voxel is the mean over its
        // rays of their mean density (1 to 1e-5).
        let op = Projector::new(sim.grid.clone(), sim.scan.clone()).unwrap();
        let ones = ArrayD::<f32>::ones(ndarray::IxDyn(&[32, 32, 32]));
        let y = op.apply(ones.view()).unwrap();
        let prior = Prior::Backprojection.image(&sim.grid, &sim.scan, y.view()).unwrap();
        let worst = prior.iter().fold(0.0f32, |m, v| m.max((v - 1.0).abs()));
        assert!(worst < 1e-5, "{worst}");
        assert_eq!(Prior::Fbp.name(&sim.scan), "fbp");
        sim.scan = ScanGeometry::parallel_2d(vec![0.0], 40, 1.0).unwrap();
        sim.grid = ImageGrid::new_2d(32, 32, 1.0).unwrap();
        let err = sim.random_phantom(0).unwrap_err().to_string();
        assert!(err.contains("heads are 3D"), "{err}");
    }
}
