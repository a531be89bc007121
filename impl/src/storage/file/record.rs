//! Byte layouts: the checksummed file header shared by every file, and log records.
//! Pure functions over byte slices, so the layouts are testable without a disk.
//!
//! All integers are little-endian. See `docs/storage-format.md`.

use bytes::Bytes;

use crate::types::{Entry, Index, SnapshotMeta};

/// The format version this build writes. Version 2 added snapshot files and snapshot records.
pub(crate) const FORMAT_VERSION: u32 = 3;
/// The oldest version this build reads (version 1 is version 2 without snapshots, version 2 is
/// version 3 without the hard state's `lost_up_to`).
pub(crate) const OLDEST_READABLE_VERSION: u32 = 1;

/// Length of a record header: body length, body checksum, header checksum.
pub(crate) const RECORD_HEADER_LEN: usize = 12;

const KIND_ENTRY: u8 = 1;
const KIND_TRUNCATE: u8 = 2;
const KIND_SNAPSHOT: u8 = 3;
const SNAPSHOT_LEN: usize = 1 + 8 + 8;
/// Kind byte, then term and index of an entry.
const ENTRY_FIXED_LEN: usize = 1 + 8 + 8;
const TRUNCATE_LEN: usize = 1 + 8;

/// A decoded log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Entry(Entry),
    /// Entries with index `>= from` were dropped.
    Truncate {
        from: Index,
    },
    /// A snapshot covering entries `<= last_included_index` became durable before this record.
    Snapshot(SnapshotMeta),
}

/// Result of decoding the bytes from a record boundary to the end of the file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Record {
        record: Record,
        len: usize,
    },
    /// Too few bytes for a header, or a valid header whose body runs past the end: the shape
    /// a write cut off by a crash leaves.
    Incomplete,
    /// The header's own checksum fails, so its length cannot be trusted.
    BadHeader,
    /// The header is sound but the body checksum fails; the record spans `len` bytes.
    BadChecksum {
        len: usize,
    },
    /// Checksums pass but the kind is unknown or the body has the wrong size.
    BadRecord,
}

/// Appends an entry record to `out`.
pub(crate) fn encode_entry(entry: &Entry, out: &mut Vec<u8>) {
    encode_record(out, |body| {
        body.push(KIND_ENTRY);
        body.extend_from_slice(&entry.term.to_le_bytes());
        body.extend_from_slice(&entry.index.to_le_bytes());
        body.extend_from_slice(&entry.data);
    });
}

/// Appends a truncation record ("drop entries with index `>= from`") to `out`.
pub(crate) fn encode_truncate(from: Index, out: &mut Vec<u8>) {
    encode_record(out, |body| {
        body.push(KIND_TRUNCATE);
        body.extend_from_slice(&from.to_le_bytes());
    });
}

/// Appends a snapshot record (the snapshot file is durable; compact the log) to `out`.
pub(crate) fn encode_snapshot(meta: SnapshotMeta, out: &mut Vec<u8>) {
    encode_record(out, |body| {
        body.push(KIND_SNAPSHOT);
        body.extend_from_slice(&meta.last_included_index.to_le_bytes());
        body.extend_from_slice(&meta.last_included_term.to_le_bytes());
    });
}

fn encode_record(out: &mut Vec<u8>, write_body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    write_body(out);
    let body = &out[start + RECORD_HEADER_LEN..];
    let body_len = u32::try_from(body.len()).expect("log entry larger than 4 GiB");
    let body_crc = crc32fast::hash(body);
    let header = &mut out[start..start + RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&body_len.to_le_bytes());
    header[4..8].copy_from_slice(&body_crc.to_le_bytes());
    // The header carries its own checksum so that recovery can tell a corrupt length (an error)
    // from a record cut off at the end of the file (a torn write, safe to drop).
    let header_crc = crc32fast::hash(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
}

/// Decodes the record starting at `buf[0]`; `buf` runs to the end of the file.
pub(crate) fn decode_record(buf: &[u8]) -> Decoded {
    if buf.len() < RECORD_HEADER_LEN {
        return Decoded::Incomplete;
    }
    if crc32fast::hash(&buf[0..8]) != read_u32(&buf[8..12]) {
        return Decoded::BadHeader;
    }
    let body_len = read_u32(&buf[0..4]) as usize;
    let len = RECORD_HEADER_LEN + body_len;
    if buf.len() < len {
        return Decoded::Incomplete;
    }
    let body = &buf[RECORD_HEADER_LEN..len];
    if crc32fast::hash(body) != read_u32(&buf[4..8]) {
        return Decoded::BadChecksum { len };
    }
    match decode_body(body) {
        Some(record) => Decoded::Record { record, len },
        None => Decoded::BadRecord,
    }
}

fn decode_body(body: &[u8]) -> Option<Record> {
    match *body.first()? {
        KIND_ENTRY if body.len() >= ENTRY_FIXED_LEN => Some(Record::Entry(Entry {
            term: read_u64(&body[1..9]),
            index: read_u64(&body[9..17]),
            data: Bytes::copy_from_slice(&body[ENTRY_FIXED_LEN..]),
        })),
        KIND_TRUNCATE if body.len() == TRUNCATE_LEN => Some(Record::Truncate {
            from: read_u64(&body[1..9]),
        }),
        KIND_SNAPSHOT if body.len() == SNAPSHOT_LEN => Some(Record::Snapshot(SnapshotMeta {
            last_included_index: read_u64(&body[1..9]),
            last_included_term: read_u64(&body[9..17]),
        })),
        _ => None,
    }
}

/// Why a file header was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Shorter than a header.
    Incomplete,
    /// Not our magic bytes.
    Foreign,
    /// Our magic, another version.
    Version(u32),
    /// Our magic and version, but the checksum fails.
    BadChecksum,
}

/// Length of a file header carrying `payload_len` bytes of payload.
pub(crate) const fn header_len(payload_len: usize) -> usize {
    8 + 4 + payload_len + 4
}

/// A file header: `magic | version | payload | crc32 of everything before it`.
pub(crate) fn encode_file_header(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(payload.len()));
    out.extend_from_slice(magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a file header at the start of `buf` and returns its payload.
pub(crate) fn decode_file_header<'a>(
    magic: &[u8; 8],
    payload_len: usize,
    buf: &'a [u8],
) -> Result<&'a [u8], HeaderError> {
    // Magic first, even on a short file: a foreign file must be reported as foreign.
    let magic_seen = &buf[..buf.len().min(8)];
    if magic_seen != &magic[..magic_seen.len()] {
        return Err(HeaderError::Foreign);
    }
    let len = header_len(payload_len);
    if buf.len() < len {
        return Err(HeaderError::Incomplete);
    }
    let version = read_u32(&buf[8..12]);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(HeaderError::Version(version));
    }
    if crc32fast::hash(&buf[..len - 4]) != read_u32(&buf[len - 4..len]) {
        return Err(HeaderError::BadChecksum);
    }
    Ok(&buf[12..12 + payload_len])
}

pub(crate) fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

pub(crate) fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            term: 7,
            index: 42,
            data: Bytes::from_static(b"set x=1"),
        }
    }

    #[test]
    fn storage_record_round_trip() {
        let mut buf = Vec::new();
        encode_entry(&entry(), &mut buf);
        let entry_len = buf.len();
        encode_truncate(40, &mut buf);

        let Decoded::Record { record, len } = decode_record(&buf) else {
            panic!("entry record did not decode");
        };
        assert_eq!((record, len), (Record::Entry(entry()), entry_len));
        assert_eq!(
            decode_record(&buf[entry_len..]),
            Decoded::Record {
                record: Record::Truncate { from: 40 },
                len: buf.len() - entry_len
            }
        );
    }

    #[test]
    fn storage_record_damage_is_classified() {
        let mut buf = Vec::new();
        encode_entry(&entry(), &mut buf);
        let len = buf.len();

        for cut in 0..len {
            assert_eq!(
                decode_record(&buf[..cut]),
                Decoded::Incomplete,
                "cut at {cut}"
            );
        }
        let mut bad_body = buf.clone();
        bad_body[len - 1] ^= 0x40;
        assert_eq!(decode_record(&bad_body), Decoded::BadChecksum { len });
        let mut bad_len = buf.clone();
        bad_len[1] ^= 0x01;
        assert_eq!(decode_record(&bad_len), Decoded::BadHeader);
        assert_eq!(decode_record(&[0; 64]), Decoded::BadHeader);
    }

    #[test]
    fn storage_file_header_checks() {
        let magic = b"TESTMAG\0";
        let header = encode_file_header(magic, &[1, 2, 3]);
        assert_eq!(decode_file_header(magic, 3, &header), Ok(&[1u8, 2, 3][..]));
        assert_eq!(
            decode_file_header(magic, 3, &header[..5]),
            Err(HeaderError::Incomplete)
        );
        assert_eq!(
            decode_file_header(magic, 3, b"garbage!!!!!!!!!!!!"),
            Err(HeaderError::Foreign)
        );
        assert_eq!(
            decode_file_header(magic, 3, b"gar"),
            Err(HeaderError::Foreign)
        );

        let mut other_version = header.clone();
        other_version[8] = 9;
        assert_eq!(
            decode_file_header(magic, 3, &other_version),
            Err(HeaderError::Version(9))
        );
        let mut flipped = header;
        flipped[13] ^= 1;
        assert_eq!(
            decode_file_header(magic, 3, &flipped),
            Err(HeaderError::BadChecksum)
        );
    }
}
