#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Pictures against independent references: maxima computed with ndarray folds, slices read
//! straight from the array, the silhouette and shading of a rendered sphere.

use hounsfield_core::{Geometry, Volume};
use hounsfield_render::{
    DvrOptions, Overlay, Plane, TransferFunction, View, Window, mesh_preview, mip, mip_values,
    mip_view, montage, read_png, slice_image, volume_render,
};
use ndarray::Axis;

/// Smooth structure with a unique maximum per line, on a grid of (nx, ny, nz).
fn field(nx: usize, ny: usize, nz: usize, spacing: [f64; 3]) -> Volume<f32> {
    let values = (0..nx * ny * nz)
        .map(|i| {
            let (x, y, z) = ((i % nx) as f64, ((i / nx) % ny) as f64, (i / (nx * ny)) as f64);
            (100.0 * (0.3 * x).sin() * (0.2 * y + 0.1 * z).cos() + x + 2.0 * y + 3.0 * z) as f32
        })
        .collect();
    Volume::from_vec([nz, ny, nx], values, Geometry::axis_aligned(spacing, [0.0; 3]).unwrap())
        .unwrap()
}

#[test]
fn axis_mips_equal_the_maximum_along_the_axis() {
    let v = field(20, 17, 13, [1.0; 3]);
    // ndarray's fold along the axis is the independent reference (array axes are z, y, x).
    for (plane, axis) in [(Plane::Axial, 0), (Plane::Coronal, 1), (Plane::Sagittal, 2)] {
        let reference = v.data().fold_axis(Axis(axis), f32::NEG_INFINITY, |&a, &b| a.max(b));
        let (values, nu, nv) = mip_values(&v, plane);
        // Reference is indexed [slow, fast] = [v axis, u axis] for every plane.
        assert_eq!(reference.len(), nu * nv);
        for (k, &m) in values.iter().enumerate() {
            let (u, w) = (k % nu, k / nu);
            assert_eq!(m, reference[[w, u]], "{plane:?} ({u}, {w})");
        }
        // The picture at isotropic spacing is the windowed maximum, rows flipped for planes
        // containing k.
        let window = Window::from_range(-50.0, 150.0).unwrap();
        let img = mip(&v, plane, &window);
        assert_eq!((img.width, img.height), (nu, nv));
        let flip = plane != Plane::Axial;
        for y in 0..nv {
            for x in 0..nu {
                let row = if flip { nv - 1 - y } else { y };
                assert_eq!(img.get(x, y), [window.grey(f64::from(reference[[row, x]])); 3]);
            }
        }
    }
}

#[test]
fn anisotropic_voxels_keep_their_proportions_and_slices_read_the_array() {
    // 0.5 x 1 x 2.5 mm voxels: pixels are 0.5 mm, so y doubles and z grows 5x.
    let v = field(24, 10, 6, [0.5, 1.0, 2.5]);
    let window = Window::from_range(-50.0, 150.0).unwrap();
    let axial = slice_image(&v, Plane::Axial, 3, &window, None).unwrap();
    assert_eq!((axial.width, axial.height), (24, 20));
    let coronal = slice_image(&v, Plane::Coronal, 4, &window, None).unwrap();
    assert_eq!((coronal.width, coronal.height), (24, 30));
    let sagittal = slice_image(&v, Plane::Sagittal, 5, &window, None).unwrap();
    assert_eq!((sagittal.width, sagittal.height), (10, 15));
    // With isotropic voxels every pixel centre is a voxel centre: the picture is the slice.
    let iso = field(8, 8, 8, [1.0; 3]);
    let s = slice_image(&iso, Plane::Axial, 5, &window, None).unwrap();
    for y in 0..8 {
        for x in 0..8 {
            assert_eq!(s.get(x, y), [window.grey(f64::from(iso.data()[[5, y, x]])); 3]);
        }
    }
    // A bright voxel near the top of z shows near the top of a coronal picture.
    let mut values = vec![0.0f32; 8 * 8 * 8];
    values[(7 * 8 + 3) * 8 + 2] = 1.0;
    let dot = Volume::from_vec([8, 8, 8], values, Geometry::default()).unwrap();
    let c =
        slice_image(&dot, Plane::Coronal, 3, &Window::from_range(0.0, 1.0).unwrap(), None).unwrap();
    assert_eq!(c.get(2, 0), [255; 3]);
    assert!(slice_image(&dot, Plane::Axial, 8, &window, None).is_err());
}

#[test]
fn montages_tile_the_slices_and_overlays_colour_the_labels() {
    let v = field(12, 12, 9, [1.0; 3]);
    let window = Window::auto(&v).unwrap();
    let labels: Vec<u8> = (0..12 * 12 * 9).map(|i| u8::from(i % 12 > 8)).collect();
    let labels = Volume::from_vec([9, 12, 12], labels, Geometry::default()).unwrap();
    let overlay = Overlay { labels: &labels, opacity: 1.0 };
    let m = montage(&v, Plane::Axial, 4, 2, &window, Some(overlay)).unwrap();
    assert_eq!((m.width, m.height), (12 * 2 + 2, 12 * 2 + 2));
    // Slice k of 4 is at index (k + 1) * 9 / 5.
    for (k, index) in [1usize, 3, 5, 7].iter().enumerate() {
        let tile = slice_image(&v, Plane::Axial, *index, &window, Some(overlay)).unwrap();
        let (ox, oy) = ((k % 2) * 14, (k / 2) * 14);
        for y in 0..12 {
            for x in 0..12 {
                assert_eq!(m.get(ox + x, oy + y), tile.get(x, y));
            }
        }
        // Opaque overlay: labelled columns (x > 8) are label 1's colour.
        assert_eq!(tile.get(10, 4), hounsfield_render::label_colour(1));
    }
    // PNG round trip.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.png");
    m.write_png(&path).unwrap();
    assert_eq!(read_png(&path).unwrap(), m);
}

/// Pixels that differ from the background, their centroid and boundary radii.
fn silhouette(img: &hounsfield_render::RgbImage) -> (usize, [f64; 2], Vec<f64>) {
    let inside = |x: usize, y: usize| img.get(x, y) != [0, 0, 0];
    let mut count = 0;
    let mut c = [0.0; 2];
    for y in 0..img.height {
        for x in 0..img.width {
            if inside(x, y) {
                count += 1;
                c[0] += x as f64;
                c[1] += y as f64;
            }
        }
    }
    c = c.map(|v| v / count as f64);
    let mut radii = Vec::new();
    for y in 1..img.height - 1 {
        for x in 1..img.width - 1 {
            if inside(x, y)
                && (!inside(x - 1, y)
                    || !inside(x + 1, y)
                    || !inside(x, y - 1)
                    || !inside(x, y + 1))
            {
                radii.push(((x as f64 - c[0]).powi(2) + (y as f64 - c[1]).powi(2)).sqrt());
            }
        }
    }
    (count, c, radii)
}

fn ball(n: usize, radius: f64, spacing: [f64; 3]) -> Volume<f32> {
    let values = (0..n * n * n)
        .map(|i| {
            let p = [(i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64];
            let c = (n as f64 - 1.0) / 2.0;
            let d = (0..3).map(|k| ((p[k] - c) * spacing[k]).powi(2)).sum::<f64>().sqrt();
            // A smooth edge (1 mm ramp) so gradients are defined: 1000 inside, 0 outside.
            (1000.0 * (radius - d + 0.5).clamp(0.0, 1.0)) as f32
        })
        .collect();
    Volume::from_vec([n; 3], values, Geometry::axis_aligned(spacing, [0.0; 3]).unwrap()).unwrap()
}

#[test]
fn a_rendered_sphere_is_round_and_shaded() {
    // Anisotropic voxels (1 x 1 x 1.5 mm) still render a round ball, from an oblique view.
    let spacing = [1.0, 1.0, 1.5];
    let v = ball(40, 12.0, spacing);
    let options = DvrOptions {
        view: View { azimuth: 30.0, elevation: 20.0, size: 96 },
        ..Default::default()
    };
    let img = volume_render(&v, &TransferFunction::ct_bone(), &options).unwrap();
    let (count, c, radii) = silhouette(&img);
    let mean = radii.iter().sum::<f64>() / radii.len() as f64;
    let sd = (radii.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / radii.len() as f64).sqrt();
    assert!(sd / mean < 0.05, "silhouette radii {mean} +- {sd}");
    // The picture spans the volume's bounding sphere (its box's diagonal) over 96 pixels.
    let diagonal = spacing.iter().map(|s| (40.0 * s).powi(2)).sum::<f64>().sqrt();
    let pixel = diagonal / 96.0;
    let expected = std::f64::consts::PI * (12.5 / pixel).powi(2);
    assert!((count as f64 / expected - 1.0).abs() < 0.1, "area {count} vs {expected}");
    // Shading: the centre (facing the light) is brighter than the rim.
    let brightness = |x: usize, y: usize| img.get(x, y).iter().map(|&v| f64::from(v)).sum::<f64>();
    let (cx, cy) = (c[0].round() as usize, c[1].round() as usize);
    let centre = brightness(cx, cy);
    let rim = (0..img.height)
        .flat_map(|y| (0..img.width).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let r = ((x as f64 - c[0]).powi(2) + (y as f64 - c[1]).powi(2)).sqrt();
            r > 0.85 * mean && r < 0.95 * mean
        })
        .map(|(x, y)| brightness(x, y))
        .fold((0.0, 0usize), |(s, n), b| (s + b, n + 1));
    assert!(centre > 1.3 * rim.0 / rim.1 as f64, "centre {centre}, rim {}", rim.0 / rim.1 as f64);
    // Without shading the ball is flat-coloured in its middle (within rounding of the
    // compositing over slightly different path lengths).
    let flat =
        volume_render(&v, &TransferFunction::ct_bone(), &DvrOptions { shading: false, ..options })
            .unwrap();
    let (a, b) = (flat.get(cx, cy), flat.get(cx + 3, cy));
    assert!((0..3).all(|k| a[k].abs_diff(b[k]) <= 3), "{a:?} {b:?}");
    // MIP from the same view, windowed from the transfer function's first opaque value: a disc
    // of the same size.
    let m = mip_view(&v, &Window::from_range(150.0, 1000.0).unwrap(), &options.view).unwrap();
    let (mcount, _, _) = silhouette(&m);
    assert!((mcount as f64 / count as f64 - 1.0).abs() < 0.1);
}

#[test]
fn a_mesh_preview_of_a_sphere_is_a_shaded_disc() {
    // A UV sphere of radius 10 mm.
    let (rings, segments) = (24, 48);
    let mut vertices = vec![[0.0f32, 0.0, 10.0]];
    for r in 1..rings {
        let theta = std::f64::consts::PI * f64::from(r) / f64::from(rings);
        for s in 0..segments {
            let phi = 2.0 * std::f64::consts::PI * f64::from(s) / f64::from(segments);
            vertices.push([
                (10.0 * theta.sin() * phi.cos()) as f32,
                (10.0 * theta.sin() * phi.sin()) as f32,
                (10.0 * theta.cos()) as f32,
            ]);
        }
    }
    vertices.push([0.0, 0.0, -10.0]);
    let bottom = vertices.len() as u32 - 1;
    let at = |r: u32, s: u32| 1 + (r - 1) * segments + s % segments;
    let mut triangles = Vec::new();
    for s in 0..segments {
        triangles.push([0, at(1, s), at(1, s + 1)]);
        triangles.push([bottom, at(rings - 1, s + 1), at(rings - 1, s)]);
    }
    for r in 1..rings - 1 {
        for s in 0..segments {
            triangles.push([at(r, s), at(r + 1, s), at(r + 1, s + 1)]);
            triangles.push([at(r, s), at(r + 1, s + 1), at(r, s + 1)]);
        }
    }
    let img = mesh_preview(
        &vertices,
        &triangles,
        &View { azimuth: 40.0, elevation: 25.0, size: 120 },
        [0, 0, 0],
    )
    .unwrap();
    let (_, _, radii) = silhouette(&img);
    let mean = radii.iter().sum::<f64>() / radii.len() as f64;
    let sd = (radii.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / radii.len() as f64).sqrt();
    assert!(sd / mean < 0.05, "silhouette radii {mean} +- {sd}");
    assert!(mesh_preview(&vertices, &[], &View::default(), [0, 0, 0]).is_err());
    assert!(mesh_preview(&vertices, &[[0, 1, 9999]], &View::default(), [0, 0, 0]).is_err());
}

#[test]
fn label_colours_keep_the_first_eight_and_do_not_repeat_them_after() {
    use hounsfield_render::label_colour;
    assert_eq!(label_colour(1), [230, 25, 75]);
    assert_eq!(label_colour(8), [240, 50, 230]);
    assert_eq!(label_colour(0), label_colour(1));
    // 116 labels before the cycle repeats (TotalSegmentator has 117): every colour distinct
    // from every other by more than a just-noticeable step (12 in some channel).
    let colours: Vec<[u8; 3]> = (1..=116).map(label_colour).collect();
    assert_eq!(label_colour(117), label_colour(1));
    for (i, a) in colours.iter().enumerate() {
        for (j, b) in colours.iter().enumerate().skip(i + 1) {
            let step = (0..3).map(|c| a[c].abs_diff(b[c])).max().unwrap_or(0);
            assert!(step > 12, "labels {} and {}: {a:?} vs {b:?}", i + 1, j + 1);
        }
    }
}
