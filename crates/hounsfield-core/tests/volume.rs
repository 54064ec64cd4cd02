//! Volume construction, access and element conversion.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hounsfield_core::volume::checked_len;
use hounsfield_core::{CastOptions, DType, Error, Geometry, Overflow, Rounding, Volume};
use ndarray::{Array3, ShapeBuilder};

#[test]
fn values_are_c_order_with_x_fastest() {
    let v =
        Volume::from_vec([2, 3, 4], (0..24).collect::<Vec<i32>>(), Geometry::default()).unwrap();
    assert_eq!(v.shape(), [2, 3, 4]);
    assert_eq!(v.size_xyz(), [4, 3, 2]);
    // value = x + 4 y + 12 z
    assert_eq!(v.data()[[1, 2, 3]], 3 + 4 * 2 + 12);
    assert_eq!(v.as_slice()[1], 1);
    assert_eq!(v.dtype(), DType::I32);
}

#[test]
fn fortran_ordered_input_is_stored_in_c_order() {
    let f = Array3::from_shape_fn((2, 3, 4).f(), |(z, y, x)| (x + 10 * y + 100 * z) as u16);
    assert!(!f.is_standard_layout());
    let v = Volume::new(f.clone(), Geometry::default()).unwrap();
    assert_eq!(v.data(), &f);
    assert_eq!(&v.as_slice()[..4], &[0, 1, 2, 3]);
}

#[test]
fn empty_and_mis_sized_inputs_are_errors() {
    assert!(matches!(Volume::<f32>::zeros([0, 4, 4], Geometry::default()), Err(Error::Empty(_))));
    assert!(matches!(
        Volume::from_vec([2, 2, 2], vec![0u8; 7], Geometry::default()),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn absurd_sizes_are_refused_before_allocation() {
    // A header claiming 10^12 voxels of f32 under a 16 GiB limit.
    let err = checked_len(&[10_000, 10_000, 10_000], 4, 16 << 30).unwrap_err();
    assert!(matches!(err, Error::TooLarge(_)), "{err}");
    assert!(checked_len(&[usize::MAX, 2, 1], 1, u64::MAX).is_err());
    assert!(Volume::<u8>::zeros([usize::MAX / 2, 4, 1], Geometry::default()).is_err());
    assert_eq!(checked_len(&[300, 512, 512], 2, 1 << 30).unwrap(), 300 * 512 * 512);
}

#[test]
fn cast_rounds_and_saturates_as_asked() {
    let g = Geometry::axis_aligned([0.5, 0.5, 2.0], [1.0, 2.0, 3.0]).unwrap();
    let v = Volume::from_vec([1, 1, 5], vec![-1.5f32, 0.5, 2.5, 254.6, 1e6], g.clone()).unwrap();
    let u: Volume<u8> = v.cast(CastOptions::default()).unwrap();
    assert_eq!(u.as_slice(), &[0, 0, 2, 255, 255]);
    assert_eq!(u.geometry(), &g);
    let t: Volume<i16> =
        v.cast(CastOptions::default().with_rounding(Rounding::TowardZero)).unwrap();
    assert_eq!(t.as_slice(), &[-1, 0, 2, 254, i16::MAX]);
    let strict = CastOptions::default().with_overflow(Overflow::Error);
    match v.cast::<u8>(strict) {
        Err(Error::OutOfRange { index, target, .. }) => assert_eq!((index, target), (0, "u8")),
        other => panic!("expected out of range, got {other:?}"),
    }
    let nan = Volume::from_vec([1, 1, 2], vec![1.0f64, f64::NAN], g).unwrap();
    assert!(matches!(
        nan.cast::<i32>(CastOptions::default()),
        Err(Error::OutOfRange { index: 1, .. })
    ));
    assert!(nan.cast::<f32>(CastOptions::default()).unwrap().as_slice()[1].is_nan());
}

#[test]
fn min_max_ignores_nan_and_to_f32_is_exact_for_16_bit() {
    let v = Volume::from_vec([1, 1, 4], vec![f32::NAN, -3.0, 7.5, f32::NAN], Geometry::default())
        .unwrap();
    assert_eq!(v.min_max(), Some((-3.0, 7.5)));
    let all_nan = Volume::from_vec([1, 1, 1], vec![f64::NAN], Geometry::default()).unwrap();
    assert_eq!(all_nan.min_max(), None);
    let ints =
        Volume::from_vec([1, 1, 3], vec![i16::MIN, 0, i16::MAX], Geometry::default()).unwrap();
    assert_eq!(ints.to_f32().as_slice(), &[-32768.0, 0.0, 32767.0]);
}

#[test]
fn voxel_to_physical_uses_x_y_z_index_order() {
    let g = Geometry::axis_aligned([0.5, 0.25, 2.0], [10.0, 20.0, 30.0]).unwrap();
    let v = Volume::<u8>::zeros([3, 4, 5], g).unwrap();
    assert_eq!(v.voxel_to_physical([2, 3, 4]), [12.0, 20.75, 34.0]);
}
