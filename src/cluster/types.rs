//! The Raft type configuration: one entry's application data is a `Batch`, a contiguous run of journal records.
//!
//! A batch carries the records as the exact bytes the journal stores as each frame's payload (the rkyv archive of
//! the `Command`, `ARCHIVED_COMMAND_BYTES` each, concatenated), behind an `Arc<[u8]>`: cloning an entry for each
//! follower's replication stream, or reading it back out of the log store, shares the bytes instead of copying
//! them. On the wire it is one length-prefixed byte string (bincode), so decoding allocates once per batch.

use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use crossline_engine::{ArchivedCommand, Command};
use crossline_journal::ARCHIVED_COMMAND_BYTES;
use openraft::BasicNode;
use rkyv::rancor::Failure;
use rkyv::ser::allocator::SubAllocator;
use rkyv::ser::writer::Buffer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

openraft::declare_raft_types!(
    /// Crossline's Raft types: node ids are u64, a node is its Raft address, an entry is a batch of records.
    pub TypeConfig:
        D = Batch,
        R = u64,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Vote = openraft::Vote<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, BasicNode>;

/// An archived command with the alignment rkyv needs to access it in place.
#[repr(C, align(8))]
struct AlignedRecord([u8; ARCHIVED_COMMAND_BYTES]);

/// A contiguous run of journal records: `first_seq`, `first_seq + 1`, ...
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub first_seq: u64,
    #[serde(serialize_with = "ser_bytes", deserialize_with = "de_bytes")]
    pub records: Arc<[u8]>,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch[{}..={}]", self.first_seq, self.last_seq())
    }
}

/// Why a batch could not be built or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch of {0} bytes is not a whole number of {ARCHIVED_COMMAND_BYTES}-byte records")]
    Ragged(usize),
    #[error("record {index} of the batch does not decode")]
    Undecodable { index: usize },
    #[error("record {index} of the batch carries seq {found}, expected {expected}")]
    WrongSeq {
        index: usize,
        expected: u64,
        found: u64,
    },
    #[error("command with seq {0} does not archive to {ARCHIVED_COMMAND_BYTES} bytes")]
    Archive(u64),
}

impl Batch {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len() / ARCHIVED_COMMAND_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Seq of the last record (`first_seq - 1` for an empty batch).
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.len() as u64 - 1
    }

    /// Record `index`'s archived bytes: the same bytes as the payload of its journal frame.
    pub fn record_bytes(&self, index: usize) -> &[u8] {
        &self.records[index * ARCHIVED_COMMAND_BYTES..(index + 1) * ARCHIVED_COMMAND_BYTES]
    }

    /// Decodes record `index` (checked with bytecheck; its seq must be `first_seq + index`).
    pub fn command(&self, index: usize) -> Result<Command, BatchError> {
        let mut aligned = AlignedRecord([0; ARCHIVED_COMMAND_BYTES]);
        aligned.0.copy_from_slice(self.record_bytes(index));
        let archived = rkyv::api::low::access::<ArchivedCommand, Failure>(&aligned.0)
            .map_err(|_| BatchError::Undecodable { index })?;
        let command = rkyv::deserialize::<Command, rkyv::rancor::Error>(archived)
            .map_err(|_| BatchError::Undecodable { index })?;
        let expected = self.first_seq + index as u64;
        if command.seq != expected {
            return Err(BatchError::WrongSeq {
                index,
                expected,
                found: command.seq,
            });
        }
        Ok(command)
    }

    /// Checks the batch's shape and decodes every record.
    pub fn commands(&self) -> Result<Vec<Command>, BatchError> {
        if !self.records.len().is_multiple_of(ARCHIVED_COMMAND_BYTES) {
            return Err(BatchError::Ragged(self.records.len()));
        }
        (0..self.len()).map(|index| self.command(index)).collect()
    }
}

/// Accumulates commands into a batch's byte buffer, archiving each exactly as the journal writer does.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    first_seq: u64,
    bytes: Vec<u8>,
}

impl BatchBuilder {
    pub fn with_capacity(records: usize) -> BatchBuilder {
        BatchBuilder {
            first_seq: 0,
            bytes: Vec::with_capacity(records * ARCHIVED_COMMAND_BYTES),
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / ARCHIVED_COMMAND_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends `command`; its seq must follow the previous one.
    pub fn push(&mut self, command: &Command) -> Result<(), BatchError> {
        if self.bytes.is_empty() {
            self.first_seq = command.seq;
        } else {
            let expected = self.first_seq + self.len() as u64;
            if command.seq != expected {
                return Err(BatchError::WrongSeq {
                    index: self.len(),
                    expected,
                    found: command.seq,
                });
            }
        }
        let mut aligned = AlignedRecord([0; ARCHIVED_COMMAND_BYTES]);
        // The same call the journal's frame encoder makes (Command has only fixed-size fields, so the serializer
        // needs no scratch space), hence the same bytes.
        let written = rkyv::api::low::to_bytes_in_with_alloc::<_, _, Failure>(
            command,
            Buffer::from(&mut aligned.0[..]),
            SubAllocator::new(&mut []),
        )
        .map_err(|_| BatchError::Archive(command.seq))?
        .len();
        if written != ARCHIVED_COMMAND_BYTES {
            return Err(BatchError::Archive(command.seq));
        }
        self.bytes.extend_from_slice(&aligned.0);
        Ok(())
    }

    /// The batch so far; the builder is left empty for the next one.
    pub fn take(&mut self) -> Batch {
        let batch = Batch {
            first_seq: self.first_seq,
            records: Arc::from(self.bytes.as_slice()),
        };
        self.bytes.clear();
        batch
    }
}

fn ser_bytes<S: Serializer>(bytes: &Arc<[u8]>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

fn de_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<[u8]>, D::Error> {
    struct BytesVisitor;
    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Arc<[u8]>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Arc<[u8]>, E> {
            Ok(Arc::from(v))
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Arc<[u8]>, E> {
            Ok(Arc::from(v))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Arc<[u8]>, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            Ok(Arc::from(bytes))
        }
    }
    deserializer.deserialize_byte_buf(BytesVisitor)
}
