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
        format!("float32 (6, 7, 9) {sum:?} {last:?} [2.5, 0.9, 0.7] [15.25, 33.0, -120.5]"),
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

#[test]
fn a_zarr_v2_store_is_named_not_read_as_dicom() {
    // OME-Zarr 0.4 is Zarr v2: a directory of `.zgroup`/`.zarray` files and chunk files, which
    // the DICOM reader used to try and fail on one chunk at a time.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("old.zarr");
    std::fs::create_dir_all(store.join("0")).unwrap();
    std::fs::write(store.join(".zgroup"), br#"{"zarr_format": 2}"#).unwrap();
    std::fs::write(store.join("0/.zarray"), br#"{"zarr_format": 2}"#).unwrap();
    std::fs::write(store.join("0/0.0.0"), [0u8; 64]).unwrap();
    let err = hounsfield_io::open(&store, &hounsfield_io::OpenOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Zarr v2") && text.contains("old.zarr"), "{text}");
}
