#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Chunked filters against the in-memory ones, voxel for voxel and bit for bit: a 192 x 160 x
//! 224 volume (x, y, z) of anisotropic voxels cut into 32^3 chunks, with a component that
//! winds through more than ten chunks.

use std::sync::atomic::{AtomicUsize, Ordering};

use hounsfield_core::chunk::{Region, VolumeSink};
use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Element, Geometry, Volume};
use hounsfield_filter::chunked::{
    ChunkOptions, gaussian_chunked, label_chunked, median_chunked, morphology_chunked,
    threshold_chunked,
};
use hounsfield_filter::gaussian::gaussian;
use hounsfield_filter::label::label;
use hounsfield_filter::morphology::{dilate, erode};
use hounsfield_filter::rank::median;
use hounsfield_filter::threshold::binary_threshold;
use hounsfield_filter::{Boundary, Connectivity, Element3, GaussianOptions};

const SHAPE: [usize; 3] = [224, 160, 192];

/// Noise plus a few blobs and a helix of radius 60 voxels winding along z: after smoothing and
/// a threshold the helix is one component through many chunks.
fn sample() -> Volume<f32> {
    let mut rng = SplitMix64::new(20);
    let [nz, ny, nx] = SHAPE;
    let values = (0..nz * ny * nx)
        .map(|i| {
            let (z, y, x) = ((i / (ny * nx)) as f64, ((i / nx) % ny) as f64, (i % nx) as f64);
            let t = z / 30.0;
            let (hx, hy) = (96.0 + 60.0 * t.cos(), 80.0 + 60.0 * t.sin());
            let helix = if (x - hx).hypot(y - hy) < 6.0 { 100.0 } else { 0.0 };
            let blob = if (x - 40.0).hypot(y - 40.0).hypot(z - 100.0) < 12.0 { 80.0 } else { 0.0 };
            (helix + blob + rng.uniform(-40.0, 40.0)) as f32
        })
        .collect();
    let geometry = Geometry::axis_aligned([0.8, 1.0, 1.5], [-50.0, 20.0, 7.0]).unwrap();
    Volume::from_vec(SHAPE, values, geometry).unwrap()
}

/// The C-order index of voxel `(z, y, x)`.
fn index(p: [usize; 3]) -> usize {
    (p[0] * SHAPE[1] + p[1]) * SHAPE[2] + p[2]
}

fn chunks() -> ChunkOptions {
    ChunkOptions::new([32; 3])
}

/// Runs a chunked filter into a fresh sink and returns the volume.
fn run<U: Element>(
    like: &Volume<f32>,
    f: impl FnOnce(&VolumeSink<U>, &(dyn Fn(usize, usize) + Sync)),
) -> Volume<U> {
    let sink = VolumeSink::new(SHAPE, like.geometry().clone()).unwrap();
    let calls = AtomicUsize::new(0);
    f(&sink, &|_, _| {
        calls.fetch_add(1, Ordering::Relaxed);
    });
    assert!(calls.load(Ordering::Relaxed) > 0, "progress is reported");
    sink.into_volume().unwrap()
}

fn same_bits(a: &Volume<f32>, b: &Volume<f32>, what: &str) {
    assert_eq!(a.geometry(), b.geometry(), "{what}");
    let differ = a.as_slice().iter().zip(b.as_slice()).filter(|(x, y)| x.to_bits() != y.to_bits());
    assert_eq!(differ.count(), 0, "{what}: voxels differ from the in-memory result");
}

#[test]
fn gaussian_median_and_threshold_equal_the_in_memory_filters_bit_for_bit() {
    let volume = sample();
    let options = GaussianOptions::new(2.0).with_boundary(Boundary::Nearest);
    let chunked = run(&volume, |sink, progress| {
        gaussian_chunked(&volume, sink, &options, &chunks(), progress).unwrap()
    });
    same_bits(&chunked, &gaussian(&volume, &options).unwrap(), "gaussian");
    // A budget of one chunk at a time gives the same voxels.
    let one = ChunkOptions::new([32; 3]).with_memory(1);
    let serial = run(&volume, |sink, progress| {
        gaussian_chunked(&volume, sink, &options, &one, progress).unwrap()
    });
    same_bits(&serial, &chunked, "gaussian, one chunk in flight");
    for radius in [[1.0, 1.0, 1.5], [1.6, 2.0, 1.5]] {
        let chunked = run(&volume, |sink, progress| {
            median_chunked(&volume, sink, radius, Boundary::Reflect, &chunks(), progress).unwrap()
        });
        same_bits(&chunked, &median(&volume, radius, Boundary::Reflect).unwrap(), "median");
    }
    let chunked = run(&volume, |sink, progress| {
        threshold_chunked(&volume, sink, 30.0, 1e9, &chunks(), progress).unwrap()
    });
    assert_eq!(chunked, binary_threshold(&volume, 30.0, 1e9));
}

#[test]
fn morphology_and_labels_equal_the_in_memory_results() {
    let volume = sample();
    let smooth = gaussian(&volume, &GaussianOptions::new(1.5)).unwrap();
    let mut mask = binary_threshold(&smooth, 30.0, 1e9);
    // Two cubes meeting only at a corner, which is the corner of eight chunks (one component
    // with 26-connectivity, two with 6), and isolated specks, some on chunk faces.
    let mut rng = SplitMix64::new(3);
    let [_, ny, nx] = SHAPE;
    for (i, v) in mask.as_slice_mut().iter_mut().enumerate() {
        let p = [i / (ny * nx), (i / nx) % ny, i % nx];
        let cube_a = p.iter().all(|&c| (60..64).contains(&c));
        let cube_b = p.iter().all(|&c| (64..68).contains(&c));
        if cube_a || cube_b || rng.next_u64().is_multiple_of(2000) {
            *v = 1;
        }
    }
    for (element, radius, erosion) in
        [(Element3::Ball, 2.5, false), (Element3::Ball, 2.5, true), (Element3::Box, 1.6, true)]
    {
        let chunked = run(&volume, |sink, progress| {
            morphology_chunked(&mask, sink, element, radius, erosion, &chunks(), progress).unwrap()
        });
        let whole =
            if erosion { erode(&mask, element, radius) } else { dilate(&mask, element, radius) };
        assert_eq!(chunked, whole.unwrap(), "{element:?} {radius} erosion {erosion}");
    }
    for connectivity in [Connectivity::Six, Connectivity::TwentySix] {
        let store = VolumeSink::new(SHAPE, volume.geometry().clone()).unwrap();
        let count = label_chunked(&mask, &store, connectivity, &chunks(), &|_, _| {}).unwrap();
        let chunked = store.into_volume().unwrap();
        let whole = label(&mask, connectivity).unwrap();
        assert_eq!(count, whole.count, "{connectivity:?}");
        // Thousands of specks; the corner-touching cubes are one component only with 26.
        assert!(count > 1000, "{count} components");
        let (a, b) =
            (whole.volume.as_slice()[index([63; 3])], whole.volume.as_slice()[index([64; 3])]);
        assert_eq!(a == b, connectivity == Connectivity::TwentySix, "{a} {b}");
        assert_eq!(chunked, whole.volume, "{connectivity:?}: same components, same numbers");
        // The helix's component spans more than ten chunks.
        let helix = chunked.as_slice()[index([0, 80, 156])]; // on the helix
        assert_ne!(helix, 0);
        let tiles = Region::tiles(SHAPE, [32; 3]).unwrap();
        let spanned = tiles
            .iter()
            .filter(|t| {
                let part = hounsfield_core::ChunkSource::read(&chunked, t).unwrap();
                part.as_slice().contains(&helix)
            })
            .count();
        assert!(spanned > 10, "the helix spans {spanned} chunks");
    }
}

#[test]
fn resampling_chunk_by_chunk_equals_the_in_memory_resampling_bit_for_bit() {
    use hounsfield_filter::Interpolation;
    use hounsfield_filter::chunked::{resample_chunked, resample_grid};
    use hounsfield_filter::resample::{ResampleOptions, resample_to_spacing};
    // A 70 x 50 x 60 voxel (x, y, z) part of the sample on an oblique grid.
    let whole = sample();
    let part = hounsfield_core::chunk::ChunkSource::read(
        &whole,
        &Region::new([80, 50, 60], [60, 50, 70]).unwrap(),
    )
    .unwrap();
    let (c, s) = (0.6f64, 0.8f64);
    let oblique = Geometry::new(
        [0.8, 1.0, 1.5],
        [-50.0, 20.0, 7.0],
        [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]],
    )
    .unwrap();
    let volume = part.with_geometry(oblique);
    for (spacing, interpolation, antialias) in [
        ([2.0, 2.5, 3.0], Interpolation::Linear, true),
        ([2.0, 2.5, 3.0], Interpolation::Linear, false),
        ([0.5, 0.7, 1.1], Interpolation::Linear, false),
        ([1.7, 0.6, 2.2], Interpolation::Lanczos3, true),
        ([1.3, 2.9, 0.9], Interpolation::Nearest, true),
    ] {
        let options =
            ResampleOptions::default().with_interpolation(interpolation).with_antialias(antialias);
        let expected = resample_to_spacing(&volume, spacing, &options).unwrap();
        let (geometry, shape) = resample_grid(&volume, spacing).unwrap();
        assert_eq!(shape, expected.shape());
        for chunk in [[7, 9, 11], [32, 32, 32]] {
            let sink = VolumeSink::new(shape, geometry.clone()).unwrap();
            // A 64 KiB budget: one chunk at a time.
            let chunks = ChunkOptions::new(chunk).with_memory(64 << 10);
            resample_chunked(&volume, &sink, spacing, &options, &chunks, &|_, _| {}).unwrap();
            let got = sink.into_volume().unwrap();
            same_bits(&got, &expected, &format!("{interpolation:?} to {spacing:?} in {chunk:?}"));
        }
    }
    // The cubic B-spline's prefilter is global: refused, not approximated.
    let sink = VolumeSink::new([1, 1, 1], volume.geometry().clone()).unwrap();
    let spline = ResampleOptions::default().with_interpolation(Interpolation::BSpline3);
    let err = resample_chunked(&volume, &sink, [2.0; 3], &spline, &chunks(), &|_, _| {});
    assert!(err.unwrap_err().to_string().contains("B-spline"));
}
