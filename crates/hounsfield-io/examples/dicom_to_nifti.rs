//! The README's hounsfield-io example: the first series of a DICOM directory to NIfTI.
//! `cargo run -p hounsfield-io --example dicom_to_nifti -- <dicom dir> <out.nii.gz>`
#![allow(clippy::print_stdout)]

use hounsfield_io::{dicom, nifti};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (dir, out) = match (args.next(), args.next()) {
        (Some(d), Some(o)) => (d, o),
        _ => return Err("usage: dicom_to_nifti <dicom dir> <out.nii.gz>".into()),
    };
    let scan = dicom::scan_dicom_dir(&dir)?; // headers only, grouped into series
    let first = scan.series.first().ok_or("no DICOM series found")?;
    let ct = dicom::read_dicom_series(first, &Default::default())?; // modality LUT, exact geometry
    // Time-major then sample (4D series), as NIfTI stores them.
    let image = nifti::NiftiImage::from_volumes(ct.volumes, ct.samples).ok_or("no samples")?;
    nifti::write_nifti(&out, &image)?; // atomic, qform + sform
    println!("{out}: {:?} {}", image.volumes()[0].shape(), image.geometry().orientation_code());
    Ok(())
}
