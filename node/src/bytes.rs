//! Byte fields of the wire types, encoded as byte strings rather than lists of numbers.
//!
//! serde's default for `Vec<u8>` is a sequence of integers. postcard (the store and the
//! signed bytes) encodes a byte sequence and a byte string identically (length, then the
//! bytes), so nothing stored or signed changes; CBOR (the wire) writes a sequence as one
//! integer item per byte, about 1.7 bytes per byte and one decoder call each, against one
//! header and a copy for a byte string. Signatures and Automerge changes are most of a
//! catch-up page, so this halves its size and most of its CBOR work.
//!
//! Deserialization accepts both forms, so a value written either way reads back.

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `#[serde(with = "crate::bytes")]` for a `Vec<u8>` field.
pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(v)
}

/// The reading half of `#[serde(with = "crate::bytes")]`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(ByteBuf)
}

/// Reads a byte string, or a sequence of small integers (serde's default for `Vec<u8>`).
struct ByteBuf;

impl<'de> Visitor<'de> for ByteBuf {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        // The hint comes from the input: cap it so a lying length cannot reserve gigabytes.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// One element of a byte-string list, borrowed for writing.
struct AsBytes<'a>(&'a [u8]);

impl Serialize for AsBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// One element of a byte-string list, owned for reading.
struct FromBytes(Vec<u8>);

impl<'de> Deserialize<'de> for FromBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_byte_buf(ByteBuf).map(FromBytes)
    }
}

/// `#[serde(with = "crate::bytes::list")]` for a `Vec<Vec<u8>>` field.
pub(crate) mod list {
    use super::*;

    /// Writes each element as a byte string.
    pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&AsBytes(b))?;
        }
        seq.end()
    }

    /// Reads a list of byte strings (or of integer sequences).
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v: Vec<FromBytes> = Deserialize::deserialize(d)?;
        Ok(v.into_iter().map(|b| b.0).collect())
    }
}

/// `#[serde(with = "crate::bytes::events")]` for the events of a message: in a binary format
/// (CBOR on the wire) each event is one byte string holding its postcard encoding, which is
/// its signed bytes followed by its signature (so a peer in another language verifies what it
/// received without re-encoding anything). A CBOR map per event repeated every field name of
/// every token and ticket: pages were 2.3 times the size of the events and their decoding a
/// sixth of a catch-up's CPU. In a human-readable format (JSON) events stay plain structs.
pub(crate) mod events {
    use super::*;
    use crate::model::Event;

    /// One event, written as its postcard bytes.
    struct Packed<'a>(&'a Event);

    impl Serialize for Packed<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let bytes = postcard::to_stdvec(self.0).map_err(serde::ser::Error::custom)?;
            s.serialize_bytes(&bytes)
        }
    }

    /// One event, read from its postcard bytes.
    struct Unpacked(Event);

    impl<'de> Deserialize<'de> for Unpacked {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let bytes = d.deserialize_byte_buf(ByteBuf)?;
            postcard::from_bytes(&bytes).map(Unpacked).map_err(|e| {
                serde::de::Error::custom(format!("an event that is not postcard: {e}"))
            })
        }
    }

    /// Writes the list, each event packed unless the format is human-readable.
    pub(crate) fn serialize<S: Serializer>(v: &[Event], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return v.serialize(s);
        }
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for ev in v {
            seq.serialize_element(&Packed(ev))?;
        }
        seq.end()
    }

    /// Reads what [`serialize`] wrote.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Event>, D::Error> {
        if d.is_human_readable() {
            return Vec::<Event>::deserialize(d);
        }
        let v: Vec<Unpacked> = Deserialize::deserialize(d)?;
        Ok(v.into_iter().map(|u| u.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Plain {
        one: Vec<u8>,
        many: Vec<Vec<u8>>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Bytes {
        #[serde(with = "crate::bytes")]
        one: Vec<u8>,
        #[serde(with = "crate::bytes::list")]
        many: Vec<Vec<u8>>,
    }

    fn sample() -> (Plain, Bytes) {
        let one: Vec<u8> = (0..=255).collect();
        let many = vec![vec![], vec![7; 300], (0..64).collect()];
        (
            Plain {
                one: one.clone(),
                many: many.clone(),
            },
            Bytes { one, many },
        )
    }

    /// The store and the signatures depend on postcard's bytes not changing.
    #[test]
    fn postcard_bytes_are_unchanged() {
        let (plain, bytes) = sample();
        let a = postcard::to_stdvec(&plain).unwrap();
        let b = postcard::to_stdvec(&bytes).unwrap();
        assert_eq!(a, b);
        assert_eq!(postcard::from_bytes::<Bytes>(&a).unwrap(), bytes);
    }

    /// CBOR gets byte strings (smaller), and reads back both forms.
    #[test]
    fn cbor_is_smaller_and_reads_both_forms() {
        let (plain, bytes) = sample();
        let mut a = Vec::new();
        ciborium::into_writer(&plain, &mut a).unwrap();
        let mut b = Vec::new();
        ciborium::into_writer(&bytes, &mut b).unwrap();
        assert!(b.len() * 4 < a.len() * 3, "{} vs {}", b.len(), a.len());
        let back: Bytes = ciborium::from_reader(b.as_slice()).unwrap();
        assert_eq!(back, bytes);
        let old: Bytes = ciborium::from_reader(a.as_slice()).unwrap();
        assert_eq!(old, bytes);
    }

    fn event() -> crate::model::Event {
        crate::model::Event {
            origin: passcom_crdt::AirlineId::new("rumos"),
            seq: 7,
            tokens: Vec::new(),
            tickets: Vec::new(),
            catalog: vec![vec![1, 2, 3]],
            signature: vec![9; 64],
        }
    }

    /// A packed event is its signed bytes then its signature, as docs/wire.md says.
    #[test]
    fn a_packed_event_is_its_signed_bytes_then_its_signature() {
        let ev = event();
        let packed = postcard::to_stdvec(&ev).unwrap();
        let signed = ev.signed_bytes();
        assert_eq!(&packed[..signed.len()], signed.as_slice());
        assert_eq!(packed[signed.len()], 64);
        assert_eq!(&packed[signed.len() + 1..], &[9u8; 64][..]);
    }

    /// Messages with events go through CBOR packed and come back equal; JSON keeps structs.
    #[test]
    fn messages_round_trip_packed_in_cbor_and_plain_in_json() {
        let msg = crate::model::Message::Page {
            events: vec![event(), event()],
            more: true,
            nonce: 5,
            asker_seq: 1,
            presence: crate::model::Presence {
                incarnation: 9,
                other: Some(3),
                alone_ms: 0,
            },
        };
        let mut cbor = Vec::new();
        ciborium::into_writer(&msg, &mut cbor).unwrap();
        let back: crate::model::Message = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(back, msg);
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.contains("\"origin\":\"rumos\""), "{json}");
        let back: crate::model::Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }
}
