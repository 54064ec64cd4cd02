//! What the receiver negotiates: Verification, the storage SOP classes in common use, and the
//! transfer syntaxes hounsfield-io decodes (so every stored image can be converted later).

use dicom_dictionary_std::uids;

/// The storage SOP classes accepted: images of every common modality, their enhanced and
/// legacy-converted forms, segmentations, RT objects, structured reports, PDFs and
/// registrations (what scanners, workstations and PACS send in practice).
pub const STORAGE_SOP_CLASSES: &[&str] = &[
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PROCESSING,
    uids::BREAST_TOMOSYNTHESIS_IMAGE_STORAGE,
    uids::CT_IMAGE_STORAGE,
    uids::ENHANCED_CT_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ENHANCED_US_VOLUME_STORAGE,
    uids::MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_COLOR_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE,
    uids::MR_SPECTROSCOPY_STORAGE,
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::ENHANCED_XA_IMAGE_STORAGE,
    uids::X_RAY_RADIOFLUOROSCOPIC_IMAGE_STORAGE,
    uids::ENHANCED_XRF_IMAGE_STORAGE,
    uids::X_RAY3_D_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
    uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
    uids::ENHANCED_PET_IMAGE_STORAGE,
    uids::LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE,
    uids::PARAMETRIC_MAP_STORAGE,
    uids::SEGMENTATION_STORAGE,
    uids::SURFACE_SEGMENTATION_STORAGE,
    uids::SPATIAL_REGISTRATION_STORAGE,
    uids::DEFORMABLE_SPATIAL_REGISTRATION_STORAGE,
    uids::RAW_DATA_STORAGE,
    uids::VL_PHOTOGRAPHIC_IMAGE_STORAGE,
    uids::OPHTHALMIC_TOMOGRAPHY_IMAGE_STORAGE,
    uids::RT_IMAGE_STORAGE,
    uids::RT_DOSE_STORAGE,
    uids::RT_STRUCTURE_SET_STORAGE,
    uids::RT_PLAN_STORAGE,
    uids::RT_ION_PLAN_STORAGE,
    uids::BASIC_TEXT_SR_STORAGE,
    uids::ENHANCED_SR_STORAGE,
    uids::COMPREHENSIVE_SR_STORAGE,
    uids::COMPREHENSIVE3_DSR_STORAGE,
    uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE,
    uids::X_RAY_RADIATION_DOSE_SR_STORAGE,
    uids::ENCAPSULATED_PDF_STORAGE,
    uids::ENCAPSULATED_STL_STORAGE,
    uids::GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE,
];

/// The transfer syntaxes accepted, in the order this receiver prefers them when a sender
/// offers several for one presentation context: the sender's own order decides among them
/// (dicom-ul takes the first proposed that is on this list), so a file is stored in the
/// encoding its sender chose and its data set arrives byte for byte.
pub const TRANSFER_SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    // Explicit VR Big Endian: retired, but still sent by old devices and decoded by hounsfield-io.
    "1.2.840.10008.1.2.2",
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEGLS_LOSSLESS,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
    uids::RLE_LOSSLESS,
];
