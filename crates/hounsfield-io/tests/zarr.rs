#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! OME-Zarr volumes: exact round trips of every layout option, chunked filtering from one store
//! into another equal to the in-memory filter, zarr-python (the reference implementation) reading
//! our stores, and refusals that name the store.

use std::path::Path;

use hounsfield_core::chunk::{ChunkSink, ChunkSource, Region};
use hounsfield_core::{Geometry, Volume};
use hounsfield_filter::chunked::{ChunkOptions, gaussian_chunked, label_chunked};
use hounsfield_filter::gaussian::gaussian;
use hounsfield_filter::label::label;
use hounsfield_filter::{Connectivity, GaussianOptions};
use hounsfield_io::zarr::{Compression, ZarrOptions, ZarrVolume, read_zarr, write_zarr};

/// An oblique geometry (a rotation about z), so the full direction must survive.
fn oblique() -> Geometry {
    let (c, s) = (0.8f64, 0.6f64);
    let direction = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
    Geometry::new([0.7, 0.9, 2.5], [-120.5, 33.0, 15.25], direction).unwrap()
}

fn ramp<T: hounsfield_core::Element>(shape: [usize; 3], f: impl Fn(usize) -> T) -> Volume<T> {
    let n = shape.iter().product();
    Volume::from_vec(shape, (0..n).map(f).collect(), oblique()).unwrap()
}

#[test]
fn volumes_round_trip_exactly_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [13, 17, 19];
    let floats = ramp(shape, |i| (i as f32 * 0.37).sin() * 1000.0);
    let bytes = ramp(shape, |i| (i % 251) as u8);
    let shorts = ramp(shape, |i| (i as i32 * 37 % 4000 - 2000) as i16);
    let layouts = [
        ZarrOptions::new([8, 8, 8]),
        ZarrOptions { compression: Compression::None, ..ZarrOptions::new([5, 17, 4]) },
        ZarrOptions { compression: Compression::Gzip(6), ..ZarrOptions::new([4, 4, 4]) },
        ZarrOptions { shard: Some([8, 8, 16]), ..ZarrOptions::new([4, 4, 8]) },
    ];
    for (k, options) in layouts.iter().enumerate() {
        let p = |name: &str| dir.path().join(format!("{name}{k}.zarr"));
        write_zarr(&p("f"), &floats, options).unwrap();
        write_zarr(&p("u"), &bytes, options).unwrap();
        write_zarr(&p("s"), &shorts, options).unwrap();
        assert_eq!(read_zarr::<f32>(&p("f")).unwrap(), floats, "{options:?}");
        assert_eq!(read_zarr::<u8>(&p("u")).unwrap(), bytes, "{options:?}");
        assert_eq!(read_zarr::<i16>(&p("s")).unwrap(), shorts, "{options:?}");
        let opened = ZarrVolume::<f32>::open(&p("f")).unwrap();
        assert_eq!(opened.block(), options.shard.unwrap_or(options.chunk));
        // A region read alone is the same part of the volume, in the same place.
        let region = Region::new([3, 5, 7], [4, 9, 6]).unwrap();
        assert_eq!(opened.read(&region).unwrap(), ChunkSource::read(&floats, &region).unwrap());
    }
}

#[test]
fn chunked_filters_run_from_store_to_store_as_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [40, 48, 56];
    let volume = ramp(shape, |i| {
        let (z, y, x) = (i / (48 * 56), (i / 56) % 48, i % 56);
        let ball = (x as f64 - 28.0).hypot(y as f64 - 24.0).hypot(z as f64 - 20.0) < 14.0;
        100.0 * f32::from(u8::from(ball)) + ((i * 7919) % 61) as f32
    });
    let input_path = dir.path().join("in.zarr");
    write_zarr(&input_path, &volume, &ZarrOptions::new([16, 16, 16])).unwrap();
    let input = ZarrVolume::<f32>::open(&input_path).unwrap();
    let options = GaussianOptions::new(1.2);
    let out_path = dir.path().join("smooth.zarr");
    let output =
        ZarrVolume::<f32>::create(&out_path, shape, &oblique(), &ZarrOptions::new([16, 16, 16]))
            .unwrap();
    gaussian_chunked(&input, &output, &options, &ChunkOptions::new([16; 3]), &|_, _| {}).unwrap();
    let expected = gaussian(&volume, &options).unwrap();
    let got = read_zarr::<f32>(&out_path).unwrap();
    assert!(
        got.as_slice().iter().zip(expected.as_slice()).all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(got.geometry(), expected.geometry());
    // Labels of the thresholded volume, through a store, as in memory.
    let mask = hounsfield_filter::threshold::binary_threshold(&expected, 80.0, 1e9);
    let labels_path = dir.path().join("labels.zarr");
    let store =
        ZarrVolume::<u32>::create(&labels_path, shape, &oblique(), &ZarrOptions::new([16, 16, 16]))
            .unwrap();
    let count =
        label_chunked(&mask, &store, Connectivity::Six, &ChunkOptions::new([16; 3]), &|_, _| {})
            .unwrap();
    let whole = label(&mask, Connectivity::Six).unwrap();
    assert_eq!(count, whole.count);
    assert_eq!(read_zarr::<u32>(&labels_path).unwrap(), whole.volume);
}

#[test]
fn zarr_python_reads_our_stores() {
    let Some(python) = std::env::var_os("HOUNSFIELD_PYTHON") else { return };
    let dir = tempfile::tempdir().unwrap();
    let volume = ramp([6, 7, 9], |i| i as f32 * 0.5 - 3.0);
    let path = dir.path().join("v.zarr");
    let options = ZarrOptions { shard: Some([6, 8, 8]), ..ZarrOptions::new([3, 4, 4]) };
    write_zarr(&path, &volume, &options).unwrap();
    // zarr-python: the array's values, and the NGFF scale and translation (z, y, x).
    let script = "import sys, zarr, numpy as np\n\
                  g = zarr.open_group(sys.argv[1], mode='r')\n\
                  a = g['0'][:]\n\
                  ms = g.attrs['ome']['multiscales'][0]\n\
                  t = ms['datasets'][0]['coordinateTransformations']\n\
                  print(a.dtype, a.shape, float(a.sum()), float(a[5, 6, 8]), t[0]['scale'], t[1]['translation'])";
    let out = std::process::Command::new(python).args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let sum: f64 = volume.as_slice().iter().map(|&v| f64::from(v)).sum();
    let last = volume.as_slice()[volume.len() - 1];
    assert_eq!(
        text.trim(),
        // The translation is the origin along the grid's own (rotated) axes: D^-1 origin.
        format!(
            "float32 (6, 7, 9) {sum:?} {last:?} [2.5, 0.9, 0.7] [15.25, 98.7, -76.60000000000001]"
        ),
        "zarr-python sees other values"
    );
}

#[test]
fn bad_stores_and_writes_are_refused_naming_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let volume = ramp([4, 4, 4], |i| i as f32);
    let path = dir.path().join("a.zarr");
    write_zarr(&path, &volume, &ZarrOptions::new([2, 2, 2])).unwrap();
    let named = |e: String, needle: &str| {
        assert!(e.contains("a.zarr") || e.contains("b.zarr") || e.contains("c.zarr"), "{e}");
        assert!(e.contains(needle), "{needle:?} not in {e}");
    };
    named(
        write_zarr(&path, &volume, &ZarrOptions::new([2, 2, 2])).unwrap_err().to_string(),
        "exists",
    );
    named(ZarrVolume::<u8>::open(&path).unwrap_err().to_string(), "not u8");
    named(
        ZarrVolume::<f32>::open(&dir.path().join("b.zarr")).unwrap_err().to_string(),
        "zarr.json",
    );
    // Another tool's OME-Zarr has no patient orientation: refused, not guessed.
    let foreign = dir.path().join("c.zarr");
    std::fs::create_dir_all(&foreign).unwrap();
    let group = std::fs::read_to_string(path.join("zarr.json")).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&group).unwrap();
    meta["attributes"].as_object_mut().unwrap().remove("hounsfield");
    std::fs::write(foreign.join("zarr.json"), meta.to_string()).unwrap();
    named(ZarrVolume::<f32>::open(&foreign).unwrap_err().to_string(), "orientation");
    // A write that covers part of a block is refused (two writers would race on it).
    let opened = ZarrVolume::<f32>::open(&path).unwrap();
    let part = Region::new([0, 0, 1], [2, 2, 2]).unwrap();
    let values = ChunkSource::read(&volume, &part).unwrap();
    named(opened.write(&part, &values).unwrap_err().to_string(), "whole blocks");
    assert!(!Path::new(&dir.path().join("b.zarr")).exists());
    // A store in a folder that does not exist is refused, as a file there would be.
    let nowhere = dir.path().join("missing").join("c.zarr");
    assert!(write_zarr(&nowhere, &volume, &ZarrOptions::new([2, 2, 2])).is_err());
    assert!(!dir.path().join("missing").exists());
}

/// The mean of each 2x2x2 block (cut short at odd far edges), computed voxel by voxel.
fn block_means(v: &Volume<f32>) -> (Vec<f32>, [usize; 3]) {
    let [nz, ny, nx] = v.shape();
    let out = [nz.div_ceil(2), ny.div_ceil(2), nx.div_ceil(2)];
    let mut means = Vec::new();
    for z in 0..out[0] {
        for y in 0..out[1] {
            for x in 0..out[2] {
                let (mut sum, mut n) = (0.0f64, 0.0);
                for (zz, yy, xx) in itertools_product(2 * z, 2 * y, 2 * x) {
                    if zz < nz && yy < ny && xx < nx {
                        sum += f64::from(v.as_slice()[(zz * ny + yy) * nx + xx]);
                        n += 1.0;
                    }
                }
                means.push((sum / n) as f32);
            }
        }
    }
    (means, out)
}

fn itertools_product(z: usize, y: usize, x: usize) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for a in z..z + 2 {
        for b in y..y + 2 {
            for c in x..x + 2 {
                v.push((a, b, c));
            }
        }
    }
    v
}

#[test]
fn pyramid_levels_hold_block_means_or_samples_at_their_true_positions() {
    use hounsfield_io::zarr::{Downsample, ZarrRead, read_zarr_with, zarr_info};
    let dir = tempfile::tempdir().unwrap();
    // Odd extents (the last block of each axis is cut short), an oblique grid.
    let volume = ramp([9, 10, 13], |i| ((i * 37) % 101) as f32 - 20.0);
    let path = dir.path().join("pyramid.zarr");
    write_zarr(&path, &volume, &ZarrOptions::new([4, 4, 4]).with_pyramid(3, None)).unwrap();
    let level = |n| ZarrRead { level: n, ..ZarrRead::default() };
    assert_eq!(zarr_info(&path, &level(0)).unwrap().levels, 4);
    assert_eq!(read_zarr_with::<f32>(&path, &level(0)).unwrap(), volume);
    let one = read_zarr_with::<f32>(&path, &level(1)).unwrap();
    let (means, shape) = block_means(&volume);
    assert_eq!(one.shape(), shape);
    // Tolerance: f32 means of at most 8 values, 1e-5 relative.
    for (a, b) in one.as_slice().iter().zip(&means) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
    // A mean sits at the centre of its block: level-1 voxel (0,0,0) is level-0 (0.5,0.5,0.5),
    // and its spacing is twice level 0's, direction unchanged (1e-9 mm).
    let g0 = volume.geometry();
    let g1 = one.geometry();
    let want = g0.index_to_physical([0.5, 0.5, 0.5]);
    assert!((0..3).all(|k| (g1.origin()[k] - want[k]).abs() < 1e-9), "{:?} {want:?}", g1.origin());
    assert!((0..3).all(|k| (g1.spacing()[k] - 2.0 * g0.spacing()[k]).abs() < 1e-9));
    assert_eq!(g1.direction(), g0.direction());
    // Level 3: 9x10x13 -> 5x5x7 -> 3x3x4 -> 2x2x2, the mean of level 2's blocks.
    let three = read_zarr_with::<f32>(&path, &level(3)).unwrap();
    assert_eq!(three.shape(), [2, 2, 2]);
    named_err(read_zarr_with::<f32>(&path, &level(4)).unwrap_err().to_string(), "level 4");

    // Labels (integers) default to nearest: every level-1 voxel is the level-0 voxel at twice
    // its index, and sits exactly on it.
    let labels = ramp([7, 6, 5], |i| (i % 7) as u16);
    let lpath = dir.path().join("labels.zarr");
    write_zarr(&lpath, &labels, &ZarrOptions::new([3, 3, 3]).with_pyramid(1, None)).unwrap();
    let l1 = read_zarr_with::<u16>(&lpath, &level(1)).unwrap();
    assert_eq!(l1.shape(), [4, 3, 3]);
    for z in 0..4 {
        for y in 0..3 {
            for x in 0..3 {
                assert_eq!(
                    l1.as_slice()[(z * 3 + y) * 3 + x],
                    labels.as_slice()[(2 * z * 6 + 2 * y) * 5 + 2 * x]
                );
            }
        }
    }
    assert!(
        (0..3).all(|k| (l1.geometry().origin()[k] - labels.geometry().origin()[k]).abs() < 1e-9)
    );
    // Mean asked for explicitly on integers rounds to the nearest.
    let mpath = dir.path().join("mean.zarr");
    let options = ZarrOptions::new([3, 3, 3]).with_pyramid(1, Some(Downsample::Mean));
    write_zarr(&mpath, &labels, &options).unwrap();
    let m1 = read_zarr_with::<u16>(&mpath, &level(1)).unwrap();
    let f = labels.map(f32::from);
    let (means, _) = block_means(&f);
    assert!(m1.as_slice().iter().zip(&means).all(|(&a, &b)| f32::from(a) == b.round_ties_even()));
    // More levels than allowed are refused before anything is written.
    let too_many = ZarrOptions::new([3, 3, 3]).with_pyramid(17, None);
    assert!(write_zarr(&dir.path().join("x.zarr"), &labels, &too_many).is_err());
    assert!(!dir.path().join("x.zarr").exists());

    // zarr-python sees the NGFF levels: each array's shape and scale.
    let Some(python) = std::env::var_os("HOUNSFIELD_PYTHON") else { return };
    let script = "import sys, zarr\n\
                  g = zarr.open_group(sys.argv[1], mode='r')\n\
                  for d in g.attrs['ome']['multiscales'][0]['datasets']:\n\
                  \x20   print(d['path'], g[d['path']].shape, d['coordinateTransformations'][0]['scale'])";
    let out = std::process::Command::new(python).args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "0 (9, 10, 13) [2.5, 0.9, 0.7]",
            "1 (5, 5, 7) [5.0, 1.8, 1.4]",
            "2 (3, 3, 4) [10.0, 3.6, 2.8]",
            "3 (2, 2, 2) [20.0, 7.2, 5.6]"
        ],
        "{text}"
    );
}

fn named_err(e: String, needle: &str) {
    assert!(e.contains(".zarr") && e.contains(needle), "{needle:?} not in {e}");
}

/// An OME-Zarr 0.4 store (Zarr v2) as zarr-python writes it: axes t, c, z, y, x in
/// micrometres; level 0 big-endian int16 in Fortran order with blosc-lz4 and shuffle; level
/// `s1` little-endian float32 with zlib; a multiscale-wide scale on top of each level's.
const V2_STORE: &str = r#"
import sys, numpy as np, zarr, numcodecs
out = sys.argv[1]
z, y, x = 5, 6, 7
a = (np.arange(z)[:, None, None] * 100 + np.arange(y)[None, :, None] * 10
     + np.arange(x)[None, None, :]).astype(">i2")
g = zarr.open_group(out, mode="w", zarr_format=2)
g.create_array("0", shape=(1, 1, z, y, x), chunks=(1, 1, 2, 4, 4), dtype=">i2", order="F",
               compressors=numcodecs.Blosc(cname="lz4", clevel=5,
                                           shuffle=numcodecs.Blosc.SHUFFLE),
               fill_value=0)[:] = a[None, None]
b = a[::2, ::2, ::2].astype("<f4")
g.create_array("s1", shape=(1, 1) + b.shape, chunks=(1, 1, 2, 2, 2), dtype="<f4",
               compressors=numcodecs.Zlib(level=4), fill_value=0)[:] = b[None, None]
ax = [{"name": "t", "type": "time", "unit": "second"}, {"name": "c", "type": "channel"}] + \
     [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
level = lambda p, s: {"path": p, "coordinateTransformations": [
    {"type": "scale", "scale": [1, 1] + s},
    {"type": "translation", "translation": [0, 0, 10000, -3000, 7000]}]}
g.attrs["multiscales"] = [{"version": "0.4", "axes": ax,
    "datasets": [level("0", [2000, 500, 250]), level("s1", [4000, 1000, 500])],
    "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1, 1, 2]}]}]
"#;

#[test]
fn ome_zarr_0_4_stores_of_zarr_python_are_read_in_the_orientation_given() {
    use hounsfield_core::Orientation;
    use hounsfield_io::zarr::{ZarrRead, read_zarr_dyn_with, read_zarr_with};
    let Some(python) = std::env::var_os("HOUNSFIELD_PYTHON") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("v2.zarr");
    let out =
        std::process::Command::new(python).args(["-c", V2_STORE]).arg(&store).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Without an orientation: refused, naming what is missing.
    let err = hounsfield_io::open(&store, &hounsfield_io::OpenOptions::default()).unwrap_err();
    named_err(err.to_string(), "orientation");
    let ras = Some(Orientation::from_code("RAS").unwrap());
    let read = ZarrRead { level: 0, orientation: ras };
    let opened =
        hounsfield_io::open(&store, &hounsfield_io::OpenOptions::default().with_zarr(read))
            .unwrap();
    let level0 = opened.image.volumes()[0].clone();
    let level0 = match level0 {
        hounsfield_core::DynVolume::I16(v) => v,
        other => panic!("level 0 read as {:?}", other.dtype()),
    };
    assert_eq!(level0.shape(), [5, 6, 7]);
    let want: Vec<i16> = (0..5)
        .flat_map(|z| (0..6).flat_map(move |y| (0..7).map(move |x| (z * 100 + y * 10 + x) as i16)))
        .collect();
    assert_eq!(level0.as_slice(), want.as_slice());
    // Spacing (x, y, z) in mm: micrometres x 1e-3, x doubled by the multiscale-wide scale;
    // the translation (14, -3, 10) mm along x, y, z, which run towards R, A, S: LPS (-14, 3, 10).
    let g = level0.geometry();
    assert_eq!(g.spacing(), [0.5, 0.5, 2.0]);
    assert_eq!(g.origin(), [-14.0, 3.0, 10.0]);
    assert_eq!(g.orientation_code(), "RAS");
    let read1 = ZarrRead { level: 1, orientation: ras };
    let level1 = read_zarr_with::<f32>(&store, &read1).unwrap();
    assert_eq!(level1.shape(), [3, 3, 4]);
    assert_eq!(level1.as_slice()[(2 * 3 + 1) * 4 + 3], (400 + 20 + 6) as f32);
    assert_eq!(level1.geometry().spacing(), [1.0, 1.0, 4.0]);
    assert!(read_zarr_dyn_with(&store, &ZarrRead { level: 2, orientation: ras }).is_err());
    // Our own stores keep their recorded orientation; a different one given is refused.
    let ours = dir.path().join("ours.zarr");
    write_zarr(&ours, &ramp([2, 2, 2], |i| i as f32), &ZarrOptions::new([2, 2, 2])).unwrap();
    let lps = ZarrRead { level: 0, orientation: Some(Orientation::from_code("LIA").unwrap()) };
    named_err(read_zarr_with::<f32>(&ours, &lps).unwrap_err().to_string(), "orientation");
}

#[test]
fn foreign_layouts_that_cannot_be_placed_are_refused_naming_the_reason() {
    use hounsfield_core::Orientation;
    use hounsfield_io::zarr::{ZarrRead, read_zarr_with};
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.zarr");
    write_zarr(&ours, &ramp([2, 3, 4], |i| i as f32), &ZarrOptions::new([2, 2, 2])).unwrap();
    let group: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ours.join("zarr.json")).unwrap()).unwrap();
    let ras = ZarrRead { level: 0, orientation: Some(Orientation::from_code("RAS").unwrap()) };
    // Each case: a copy of the store with its NGFF attributes changed, and what the error says.
    type Change = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: [(&str, Change, &str); 7] = [
        (
            "nounit",
            Box::new(|m| {
                m["axes"][2].as_object_mut().unwrap().remove("unit");
            }),
            "no unit",
        ),
        ("pixels", Box::new(|m| m["axes"][0]["unit"] = "pixel".into()), "\"pixel\""),
        ("order", Box::new(|m| m["axes"][0]["name"] = "x".into()), "z, y, x"),
        ("escape", Box::new(|m| m["datasets"][0]["path"] = "../0".into()), "leaves the group"),
        (
            "noscale",
            Box::new(|m| {
                m["datasets"][0].as_object_mut().unwrap().remove("coordinateTransformations");
            }),
            "no scale",
        ),
        (
            "onlyshift",
            Box::new(|m| {
                m["datasets"][0]["coordinateTransformations"] =
                    serde_json::json!([{"type": "translation", "translation": [1.0, 2.0, 3.0]}]);
            }),
            "no scale",
        ),
        (
            "affine",
            Box::new(|m| {
                m["datasets"][0]["coordinateTransformations"][0]["type"] = "affine".into()
            }),
            "affine",
        ),
    ];
    for (name, change, needle) in cases {
        let copy = dir.path().join(format!("{name}.zarr"));
        copy_tree(&ours.join("0"), &copy.join("0")).unwrap();
        let mut meta = group.clone();
        meta["attributes"].as_object_mut().unwrap().remove("hounsfield");
        change(&mut meta["attributes"]["ome"]["multiscales"][0]);
        std::fs::write(copy.join("zarr.json"), meta.to_string()).unwrap();
        let err = read_zarr_with::<f32>(&copy, &ras).unwrap_err().to_string();
        assert!(err.contains(&format!("{name}.zarr")) && err.contains(needle), "{name}: {err}");
    }
}

/// Copies a directory tree (the chunk files of a store).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?.path();
        let target = to.join(entry.file_name().unwrap());
        if entry.is_dir() {
            copy_tree(&entry, &target)?;
        } else {
            std::fs::copy(&entry, &target)?;
        }
    }
    Ok(())
}

#[test]
fn a_chunk_cache_returns_the_same_regions() {
    // Overlapping regions (as halos make them), read through a cache of two chunks and
    // without one: equal values and geometry, exactly.
    let dir = tempfile::tempdir().unwrap();
    let volume = ramp([13, 11, 9], |i| (i as f32).sin());
    let path = dir.path().join("c.zarr");
    write_zarr(&path, &volume, &ZarrOptions::new([4, 4, 4])).unwrap();
    let plain = ZarrVolume::<f32>::open(&path).unwrap();
    let cached = ZarrVolume::<f32>::open(&path).unwrap();
    let cached = cached.with_cache(2 * 64 * 4).unwrap();
    for start in [[0, 0, 0], [3, 2, 1], [9, 7, 5], [2, 6, 3], [0, 0, 0]] {
        let region = Region::new(start, [4, 4, 4]).unwrap();
        assert_eq!(plain.read(&region).unwrap(), cached.read(&region).unwrap(), "{start:?}");
    }
}

#[test]
fn ngff_transforms_place_the_grid_for_other_readers_and_edits_are_caught() {
    use hounsfield_core::Orientation;
    use hounsfield_io::zarr::{ZarrRead, read_zarr_with};
    let dir = tempfile::tempdir().unwrap();
    // A grid running towards R, A, S (a NIfTI's usual), LPS origin (-10, 20, 30).
    let ras = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
    let geometry = Geometry::new([0.7, 0.8, 1.5], [-10.0, 20.0, 30.0], ras).unwrap();
    let volume =
        Volume::from_vec([4, 5, 6], (0..120).map(|i| i as f32).collect(), geometry).unwrap();
    let path = dir.path().join("ras.zarr");
    write_zarr(&path, &volume, &ZarrOptions::new([2, 2, 2]).with_pyramid(1, None)).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.join("zarr.json")).unwrap()).unwrap();
    // NGFF places voxels along the grid's axes: x runs towards R, so the translation's x is
    // 10 (= -L), y is -20, z 30 (stored z, y, x).
    let t = &meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"]
        [1]["translation"];
    assert_eq!(t, &serde_json::json!([30.0, -20.0, 10.0]), "{t}");
    // Without our attributes, a reader given the orientation finds the same grid, both levels.
    let mut foreign = meta.clone();
    foreign["attributes"].as_object_mut().unwrap().remove("hounsfield");
    let stripped = dir.path().join("stripped.zarr");
    copy_tree(&path, &stripped).unwrap();
    std::fs::write(stripped.join("zarr.json"), foreign.to_string()).unwrap();
    for level in [0, 1] {
        let ours = read_zarr_with::<f32>(&path, &ZarrRead { level, orientation: None }).unwrap();
        let read = ZarrRead { level, orientation: Some(Orientation::from_code("RAS").unwrap()) };
        let theirs = read_zarr_with::<f32>(&stripped, &read).unwrap();
        assert_eq!(ours.as_slice(), theirs.as_slice());
        assert!(ours.geometry().approx_eq(theirs.geometry(), 1e-9), "level {level}");
    }
    // Level 0's NGFF scale edited (say, by a tool that rescaled it): refused, not misplaced.
    let mut edited = meta.clone();
    edited["attributes"]["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
        ["scale"] = serde_json::json!([3.0, 1.6, 1.4]);
    let changed = dir.path().join("edited.zarr");
    copy_tree(&path, &changed).unwrap();
    std::fs::write(changed.join("zarr.json"), edited.to_string()).unwrap();
    let err = read_zarr_with::<f32>(&changed, &ZarrRead { level: 1, orientation: None });
    named_err(err.unwrap_err().to_string(), "disagrees with the recorded geometry");
    // Dataset paths swapped (each level reads the other's array): refused, not read at the
    // wrong spacing.
    let mut swapped = meta.clone();
    let datasets = &mut swapped["attributes"]["ome"]["multiscales"][0]["datasets"];
    datasets[0]["path"] = "1".into();
    datasets[1]["path"] = "0".into();
    let swap = dir.path().join("swapped.zarr");
    copy_tree(&path, &swap).unwrap();
    std::fs::write(swap.join("zarr.json"), swapped.to_string()).unwrap();
    for level in [0, 1] {
        let err = read_zarr_with::<f32>(&swap, &ZarrRead { level, orientation: None });
        named_err(err.unwrap_err().to_string(), "edited by another tool");
    }
    // A pyramid deeper than the grid halves into is refused before anything is written.
    let deep = dir.path().join("deep.zarr");
    let err = write_zarr(&deep, &volume, &ZarrOptions::new([2, 2, 2]).with_pyramid(4, None));
    let text = err.unwrap_err().to_string();
    assert!(
        text.contains("deep.zarr") && !text.contains("partial") && text.contains("after 3"),
        "{text}"
    );
    assert!(!deep.exists());
    assert_eq!(hounsfield_io::zarr::possible_levels([4, 5, 6]), 3);
}
