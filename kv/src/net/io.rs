//! Reading and writing [`Frame`]s on sockets, async (the node) and blocking (the client), with
//! timeouts and bounded memory.
//!
//! [`FrameReader`] is a connection's read buffer. It refuses a frame longer than its limit at
//! the length prefix, and it never allocates the announced length up front: the buffer grows
//! (doubling, at most to the frame's size) only as bytes actually arrive, so a peer that
//! announces 16 MiB and sends 10 bytes costs 10 bytes' worth of buffer, not 16 MiB. Capacity
//! beyond [`FREE_CAPACITY`] is charged to a shared [`ByteBudget`] (the node's bound on what all
//! client connections buffer together) and handed back once the frame has been consumed.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::frame::{self, Frame, FrameError, LEN_PREFIX, MAX_FRAME_LEN};

/// A reader starts with this much buffer.
pub const INITIAL_CAPACITY: usize = 8 << 10;
/// Capacity a reader may hold without charging its budget (and keeps between frames): room
/// for a batch of small frames per `recv`.
pub const FREE_CAPACITY: usize = 64 << 10;

/// Why a frame could not be read or written. Any of these ends the connection.
#[derive(Debug, Error)]
pub enum IoError {
    /// The peer closed the connection between frames: a normal end.
    #[error("connection closed")]
    Closed,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A frame started but did not arrive in full within the read timeout (slow or stalled).
    #[error("frame stalled: {received} of {expected} bytes received in {after:?}")]
    Stalled {
        received: usize,
        expected: usize,
        after: Duration,
    },
    /// Buffering more of this frame would exceed the node's budget for all connections.
    #[error(
        "buffer budget exhausted: {wanted} more bytes wanted, {in_use} of {limit} bytes in use"
    )]
    OverBudget {
        wanted: usize,
        in_use: usize,
        limit: usize,
    },
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
}

/// Bytes that frame buffers may hold beyond [`FREE_CAPACITY`] each, shared by connections.
#[derive(Debug)]
pub struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
}

impl ByteBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(ByteBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes currently charged.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn try_take(&self, n: usize) -> Result<(), IoError> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .map(|_| ())
            .map_err(|in_use| IoError::OverBudget {
                wanted: n,
                in_use,
                limit: self.limit,
            })
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A connection's read buffer; see the module documentation. Bytes `buf[start..end]` are
/// received and not yet decoded.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_frame: usize,
    budget: Option<Arc<ByteBudget>>,
    /// Bytes of `buf`'s size charged to `budget`.
    charged: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new(MAX_FRAME_LEN, None)
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            b.give_back(self.charged);
        }
    }
}

impl FrameReader {
    /// A reader refusing frames longer than `max_frame` (at most [`MAX_FRAME_LEN`]), charging
    /// growth beyond [`FREE_CAPACITY`] to `budget` if given.
    pub fn new(max_frame: usize, budget: Option<Arc<ByteBudget>>) -> Self {
        FrameReader {
            buf: vec![0; INITIAL_CAPACITY],
            start: 0,
            end: 0,
            max_frame: max_frame.min(MAX_FRAME_LEN),
            budget,
            charged: 0,
        }
    }

    /// Changes the longest frame accepted from now on (e.g. once a client has authenticated).
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame.min(MAX_FRAME_LEN);
    }

    /// Stops charging a budget (the connection turned out to be a trusted peer's).
    pub fn detach_budget(&mut self) {
        if let Some(b) = self.budget.take() {
            b.give_back(self.charged);
        }
        self.charged = 0;
    }

    /// Bytes of buffer held now (what this connection costs in frame memory).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The announced length of the frame in progress (prefix included), once known.
    fn frame_total(&self) -> Result<Option<usize>, FrameError> {
        let len = frame::frame_len(&self.buf[self.start..self.end])?;
        match len {
            Some(len) if len > self.max_frame => Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            }),
            other => Ok(other.map(|l| LEN_PREFIX + l)),
        }
    }

    /// The next whole frame in the buffer, if there is one.
    fn try_decode(&mut self) -> Result<Option<Frame>, IoError> {
        let Some(total) = self.frame_total()? else {
            return Ok(None);
        };
        if self.buffered() < total {
            return Ok(None);
        }
        let body = &self.buf[self.start + LEN_PREFIX..self.start + total];
        let f = frame::decode_body(body);
        self.start += total;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.shrink();
        }
        Ok(Some(f?))
    }

    /// After a large frame: back to the free size, handing the charge back.
    fn shrink(&mut self) {
        if self.buf.len() > FREE_CAPACITY {
            self.buf = vec![0; FREE_CAPACITY];
            if let Some(b) = &self.budget {
                b.give_back(self.charged);
            }
            self.charged = 0;
        }
    }

    /// Makes room to receive more: compacts, then grows (doubling, never past the frame in
    /// progress, charging the budget beyond the free size).
    fn make_room(&mut self) -> Result<(), IoError> {
        if self.end < self.buf.len() {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return Ok(());
        }
        // Full from the start: the frame in progress is larger than the buffer, so its
        // prefix is here and its length known (the buffer holds at least a prefix).
        let total = self.frame_total()?.unwrap_or(LEN_PREFIX);
        let size = self.buf.len();
        let new_size = (size * 2).max(INITIAL_CAPACITY).min(total.max(size + 1));
        let new_charge = new_size.saturating_sub(FREE_CAPACITY);
        if let Some(b) = &self.budget {
            if new_charge > self.charged {
                b.try_take(new_charge - self.charged)?;
            }
        }
        self.charged = self.charged.max(new_charge);
        self.buf.resize(new_size, 0);
        Ok(())
    }

    /// Reads one frame. `idle` bounds the wait for a frame to start (a silent peer), `read`
    /// the time to receive all of it once it has started (a slow or stalled peer).
    pub async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        idle: Duration,
        read: Duration,
    ) -> Result<Frame, IoError> {
        let mut frame_started: Option<Instant> = None;
        loop {
            if let Some(f) = self.try_decode()? {
                return Ok(f);
            }
            let started = self.buffered() > 0;
            let deadline = if started {
                *frame_started.get_or_insert_with(Instant::now) + read
            } else {
                Instant::now() + idle
            };
            self.make_room()?;
            let n = match tokio::time::timeout_at(deadline, r.read(&mut self.buf[self.end..])).await
            {
                Ok(n) => n?,
                Err(_) if started => return Err(self.stalled(read)),
                Err(_) => return Err(IoError::Timeout(idle)),
            };
            if n == 0 {
                return Err(self.eof());
            }
            self.end += n;
        }
    }

    /// Blocking [`FrameReader::read_frame`]; the socket's read timeout must already be set
    /// (a timeout ends the read, mid-frame or not).
    pub fn read_frame_blocking(&mut self, r: &mut impl Read) -> Result<Frame, IoError> {
        loop {
            if let Some(f) = self.try_decode()? {
                return Ok(f);
            }
            self.make_room()?;
            let n = match r.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(blocking_err(e)),
            };
            if n == 0 {
                return Err(self.eof());
            }
            self.end += n;
        }
    }

    fn stalled(&self, after: Duration) -> IoError {
        IoError::Stalled {
            received: self.buffered(),
            expected: self.frame_total().ok().flatten().unwrap_or(LEN_PREFIX),
            after,
        }
    }

    fn eof(&self) -> IoError {
        if self.buffered() == 0 {
            IoError::Closed
        } else {
            IoError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed mid-frame ({} bytes)", self.buffered()),
            ))
        }
    }
}

/// Writes already-encoded frames, bounded by `timeout` (a peer that stopped reading must not
/// stall the writer forever).
pub async fn write_bytes<W: AsyncWrite + Unpin>(
    w: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), IoError> {
    tokio::time::timeout(timeout, async {
        w.write_all(bytes).await?;
        // A TLS stream holds records until flushed; a plain socket ignores this.
        w.flush().await
    })
    .await
    .map_err(|_| IoError::Timeout(timeout))??;
    Ok(())
}

/// Blocking write of one frame; the socket's write timeout must already be set.
pub fn write_frame_blocking(w: &mut impl Write, f: &Frame) -> Result<(), IoError> {
    let bytes = frame::encode(f)?;
    w.write_all(&bytes).map_err(blocking_err)?;
    w.flush().map_err(blocking_err)?;
    Ok(())
}

/// Socket timeouts surface as `WouldBlock` (Unix) or `TimedOut` (Windows).
fn blocking_err(e: io::Error) -> IoError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => IoError::Timeout(Duration::ZERO),
        io::ErrorKind::UnexpectedEof => IoError::Closed,
        _ => IoError::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Op};
    use tokio::io::AsyncWriteExt;

    fn request(id: u64, value_len: usize) -> Vec<u8> {
        let cmd = Command {
            client_id: 1,
            seq: id,
            op: Op::Put {
                key: "k".into(),
                value: "v".repeat(value_len),
            },
        };
        frame::encode(&Frame::request(id, &cmd)).unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn frames_split_and_batched_arbitrarily_are_all_read() {
        let mut bytes = Vec::new();
        for i in 1..=50 {
            bytes.extend(request(i, (i as usize * 997) % 100_000));
        }
        for chunk in [1, 7, 4096, 1 << 20] {
            let mut r = FrameReader::default();
            let mut src: Vec<&[u8]> = bytes.chunks(chunk).collect();
            src.reverse();
            let mut reader = ChunkRead(src);
            for i in 1..=50 {
                match r.read_frame_blocking(&mut reader).unwrap() {
                    Frame::Request { id, .. } => assert_eq!(id, i, "chunk {chunk}"),
                    other => panic!("{other:?}"),
                }
            }
            assert!(matches!(
                r.read_frame_blocking(&mut reader),
                Err(IoError::Closed)
            ));
            assert!(r.capacity() <= FREE_CAPACITY, "shrunk after the big frames");
        }
    }

    struct ChunkRead<'a>(Vec<&'a [u8]>);
    impl Read for ChunkRead<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(c) = self.0.pop() else { return Ok(0) };
            let n = c.len().min(out.len());
            out[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.push(&c[n..]);
            }
            Ok(n)
        }
    }

    #[test]
    fn an_announced_length_is_not_allocated_before_its_bytes_arrive() {
        rt().block_on(async {
            let (mut tx, mut rx) = tokio::io::duplex(1 << 20);
            let mut bytes = ((MAX_FRAME_LEN - 1) as u32).to_be_bytes().to_vec();
            bytes.extend_from_slice(&[frame::WIRE_VERSION; 100_000]);
            tx.write_all(&bytes).await.unwrap();
            let mut r = FrameReader::default();
            let e = r
                .read_frame(&mut rx, Duration::from_secs(5), Duration::from_millis(50))
                .await
                .unwrap_err();
            assert!(
                matches!(e, IoError::Stalled { received, expected, .. }
                    if received == bytes.len() && expected == MAX_FRAME_LEN + 3),
                "{e}"
            );
            // Grown by doubling to what arrived, not to the announced 16 MiB.
            assert!(r.capacity() < 2 * bytes.len(), "{}", r.capacity());
        });
    }

    #[test]
    fn growth_beyond_the_free_size_is_charged_and_refused_past_the_budget() {
        rt().block_on(async {
            let budget = ByteBudget::new(1 << 20);
            let (mut tx, mut rx) = tokio::io::duplex(4 << 20);
            let big = request(1, 600_000);
            tx.write_all(&big).await.unwrap();
            let mut r = FrameReader::new(MAX_FRAME_LEN, Some(budget.clone()));
            let (idle, read) = (Duration::from_secs(5), Duration::from_secs(5));
            r.read_frame(&mut rx, idle, read).await.unwrap();
            assert_eq!(budget.used(), 0, "handed back once consumed");
            // A second reader holding most of the budget makes the first one's next big frame
            // fail instead of growing.
            let (mut tx2, mut rx2) = tokio::io::duplex(4 << 20);
            let mut hog = FrameReader::new(MAX_FRAME_LEN, Some(budget.clone()));
            tx2.write_all(&request(2, 900_000)[..800_000])
                .await
                .unwrap();
            let e = hog
                .read_frame(&mut rx2, idle, Duration::from_millis(50))
                .await
                .unwrap_err();
            assert!(matches!(e, IoError::Stalled { .. }), "{e}");
            assert!(budget.used() > 500_000);
            tx.write_all(&big).await.unwrap();
            let e = r.read_frame(&mut rx, idle, read).await.unwrap_err();
            assert!(matches!(e, IoError::OverBudget { .. }), "{e}");
            drop(hog);
            drop(r);
            assert_eq!(budget.used(), 0, "dropping a reader hands its charge back");
        });
    }

    #[test]
    fn a_frame_over_the_reader_limit_is_refused_at_its_prefix() {
        let mut r = FrameReader::new(1000, None);
        let e = r
            .read_frame_blocking(&mut &request(1, 2000)[..])
            .unwrap_err();
        assert!(
            matches!(e, IoError::Frame(FrameError::TooLarge { max: 1000, .. })),
            "{e}"
        );
    }
}
