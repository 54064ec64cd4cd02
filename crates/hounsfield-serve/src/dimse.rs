//! DIMSE command sets (PS3.7): reading a request's command, writing C-ECHO and C-STORE
//! responses. Commands are always Implicit VR Little Endian.

use dicom_core::{DataElement, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

/// C-STORE-RQ.
pub const C_STORE_RQ: u16 = 0x0001;
/// C-ECHO-RQ.
pub const C_ECHO_RQ: u16 = 0x0030;
/// CommandDataSetType when no data set follows.
pub const NO_DATA_SET: u16 = 0x0101;

/// Status: success.
pub const SUCCESS: u16 = 0x0000;
/// Status: refused, out of resources (the store could not be written).
pub const OUT_OF_RESOURCES: u16 = 0xA700;
/// Status: error, data set does not match SOP class (or the instance it was announced as).
pub const DATA_SET_MISMATCH: u16 = 0xA900;
/// Status: error, cannot understand (an unusable data set or UID).
pub const CANNOT_UNDERSTAND: u16 = 0xC000;
/// Status: error, cannot understand, this implementation's reason: an instance with the same
/// SOP Instance UID and other bytes is stored (this one is kept apart, under conflicts/).
pub const CONFLICT: u16 = 0xC010;
/// Status: unrecognised operation.
pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;

/// What a request's command set says.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// (0000,0100) CommandField.
    pub field: u16,
    /// (0000,0110) MessageID.
    pub message_id: u16,
    /// (0000,0002) AffectedSOPClassUID (empty when absent).
    pub sop_class_uid: String,
    /// (0000,1000) AffectedSOPInstanceUID (empty when absent).
    pub sop_instance_uid: String,
    /// Whether a data set follows ((0000,0800) CommandDataSetType other than 0x0101).
    pub has_data_set: bool,
}

/// Reads a command set.
pub fn read_command(bytes: &[u8]) -> Result<Command, String> {
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, &ts)
        .map_err(|e| format!("unreadable command set: {e}"))?;
    let uint = |tag, name: &str| -> Result<u16, String> {
        obj.element(tag)
            .map_err(|_| format!("the command has no {name}"))?
            .to_int::<u16>()
            .map_err(|e| format!("{name} is not a number: {e}"))
    };
    let text = |tag| crate::uid::text_of(&obj, tag);
    Ok(Command {
        field: uint(tags::COMMAND_FIELD, "CommandField")?,
        message_id: uint(tags::MESSAGE_ID, "MessageID")?,
        sop_class_uid: text(tags::AFFECTED_SOP_CLASS_UID),
        sop_instance_uid: text(tags::AFFECTED_SOP_INSTANCE_UID),
        has_data_set: uint(tags::COMMAND_DATA_SET_TYPE, "CommandDataSetType")? != NO_DATA_SET,
    })
}

/// The response to `request` with `status`; `comment` (cut to the 64 characters of LO) is sent
/// as ErrorComment with a failure status.
pub fn response(request: &Command, status: u16, comment: Option<&str>) -> Vec<u8> {
    let mut elements = vec![
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [request.field | 0x8000])),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            dicom_value!(U16, [request.message_id]),
        ),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, dicom_value!(U16, [NO_DATA_SET])),
        DataElement::new(tags::STATUS, VR::US, dicom_value!(U16, [status])),
    ];
    if !request.sop_class_uid.is_empty() {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            dicom_value!(Str, request.sop_class_uid.as_str()),
        ));
    }
    if !request.sop_instance_uid.is_empty() {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            dicom_value!(Str, request.sop_instance_uid.as_str()),
        ));
    }
    if let Some(comment) = comment.filter(|_| status != SUCCESS) {
        let lo: String =
            comment.chars().filter(|c| *c != '\\' && !c.is_control()).take(64).collect();
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            dicom_value!(Str, lo.as_str()),
        ));
    }
    encode(elements)
}

/// A command set's bytes (with its CommandGroupLength).
fn encode(elements: impl IntoIterator<Item = DataElement<InMemDicomObject>>) -> Vec<u8> {
    let obj = InMemDicomObject::command_from_element_iter(elements);
    let mut out = Vec::new();
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    // Writing a handful of fixed-size elements to a Vec cannot fail.
    if obj.write_dataset_with_ts(&mut out, &ts).is_err() {
        out.clear();
    }
    out
}

/// A C-STORE-RQ command set (medium priority) announcing `sop_instance_uid` of `sop_class_uid`.
pub fn store_request(message_id: u16, sop_class_uid: &str, sop_instance_uid: &str) -> Vec<u8> {
    let elements = [
        DataElement::new(tags::AFFECTED_SOP_CLASS_UID, VR::UI, dicom_value!(Str, sop_class_uid)),
        DataElement::new(tags::COMMAND_FIELD, VR::US, dicom_value!(U16, [C_STORE_RQ])),
        DataElement::new(tags::MESSAGE_ID, VR::US, dicom_value!(U16, [message_id])),
        DataElement::new(tags::PRIORITY, VR::US, dicom_value!(U16, [0])),
        DataElement::new(tags::COMMAND_DATA_SET_TYPE, VR::US, dicom_value!(U16, [0x0000])),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            dicom_value!(Str, sop_instance_uid),
        ),
    ];
    encode(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_reads_back_as_the_answer_to_its_request() {
        let request = Command {
            field: C_STORE_RQ,
            message_id: 7,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: "1.2.3.4".into(),
            has_data_set: true,
        };
        let bytes = response(&request, CANNOT_UNDERSTAND, Some(&"x\\y".repeat(40)));
        let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
        let obj = InMemDicomObject::read_dataset_with_ts(bytes.as_slice(), &ts).unwrap();
        let u16_of = |tag| obj.element(tag).unwrap().to_int::<u16>().unwrap();
        assert_eq!(u16_of(tags::COMMAND_FIELD), 0x8001);
        assert_eq!(u16_of(tags::MESSAGE_ID_BEING_RESPONDED_TO), 7);
        assert_eq!(u16_of(tags::STATUS), CANNOT_UNDERSTAND);
        let comment = obj.element(tags::ERROR_COMMENT).unwrap().to_str().unwrap();
        assert!(comment.trim_end().len() <= 64 && !comment.contains('\\'), "{comment:?}");
        // CommandGroupLength is written and matches the bytes that follow it (12 bytes).
        let group = obj.element(tags::COMMAND_GROUP_LENGTH).unwrap().to_int::<u32>().unwrap();
        assert_eq!(group as usize, bytes.len() - 12);
        let none = InMemDicomObject::read_dataset_with_ts(
            response(&request, SUCCESS, Some("not sent with success")).as_slice(),
            &ts,
        )
        .unwrap();
        assert!(none.element_opt(tags::ERROR_COMMENT).unwrap().is_none());
        // A request built here reads back as the request it is.
        let back = read_command(&store_request(9, "1.2.3", "4.5.6")).unwrap();
        assert_eq!(
            back,
            Command {
                field: C_STORE_RQ,
                message_id: 9,
                sop_class_uid: "1.2.3".into(),
                sop_instance_uid: "4.5.6".into(),
                has_data_set: true
            }
        );
    }
}
