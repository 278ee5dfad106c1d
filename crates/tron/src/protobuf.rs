//! The few protobuf encodings TRON's transactions need, written by hand: varints and
//! length-delimited fields, in field-number order, with proto3's rule that a field holding its
//! default (zero, empty) is left out. That is what java-tron and tronweb emit, and txID is a
//! hash of these exact bytes.

/// Wire type of varint fields (integers, enums).
const VARINT: u32 = 0;
/// Wire type of bytes, strings and nested messages.
const LEN: u32 = 2;

/// A message being written. Callers add fields in increasing field-number order.
#[derive(Debug, Default)]
pub(crate) struct Message(Vec<u8>);

impl Message {
    pub(crate) fn new() -> Message {
        Message::default()
    }

    /// An integer or enum field; left out when zero.
    pub(crate) fn varint(mut self, field: u32, value: u64) -> Message {
        if value != 0 {
            put_varint(&mut self.0, u64::from(key(field, VARINT)));
            put_varint(&mut self.0, value);
        }
        self
    }

    /// A bytes or string field; left out when empty.
    pub(crate) fn bytes(mut self, field: u32, value: &[u8]) -> Message {
        if !value.is_empty() {
            put_varint(&mut self.0, u64::from(key(field, LEN)));
            // usize always fits in u64 on the targets Rust supports.
            put_varint(&mut self.0, value.len() as u64);
            self.0.extend_from_slice(value);
        }
        self
    }

    /// A nested message field.
    pub(crate) fn message(self, field: u32, value: &Message) -> Message {
        self.bytes(field, &value.0)
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A field's key: its number and wire type. TRON's field numbers are all below 2^29.
const fn key(field: u32, wire_type: u32) -> u32 {
    (field << 3) | wire_type
}

/// Base-128 varint, least significant group first, high bit set on all but the last byte.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(low_byte(value) | 0x80);
        value >>= 7;
    }
    out.push(low_byte(value));
}

fn low_byte(value: u64) -> u8 {
    value.to_le_bytes()[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(value: u64) -> String {
        let mut out = Vec::new();
        put_varint(&mut out, value);
        hex::encode(out)
    }

    #[test]
    fn varints_match_the_protobuf_encoding() {
        assert_eq!(varint(0), "00");
        assert_eq!(varint(1), "01");
        assert_eq!(varint(127), "7f");
        assert_eq!(varint(128), "8001");
        assert_eq!(varint(300), "ac02");
        assert_eq!(varint(100_000_000), "80c2d72f");
        assert_eq!(varint(u64::MAX), "ffffffffffffffffff01");
    }

    #[test]
    fn fields_carry_their_key_and_defaults_are_left_out() {
        let inner = Message::new().varint(1, 31);
        let bytes = Message::new()
            .bytes(1, &[0x28, 0xc3])
            .varint(3, 0)
            .bytes(4, &[])
            .message(11, &inner)
            .varint(18, 100_000_000)
            .into_bytes();
        assert_eq!(hex::encode(bytes), "0a0228c35a02081f900180c2d72f");
    }
}
