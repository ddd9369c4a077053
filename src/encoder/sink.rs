//! Where the encoder writes: a caller's buffer, or any `bytes::BufMut`.

/// Where the encoder writes.
pub trait Sink {
    /// How many more bytes fit.
    fn room(&self) -> usize;
    /// Appends `bytes`; the encoder checks [`room`](Self::room) first.
    fn put(&mut self, bytes: &[u8]);
}

#[cfg(feature = "bytes")]
impl<B: bytes::BufMut + ?Sized> Sink for B {
    fn room(&self) -> usize {
        self.remaining_mut()
    }
    fn put(&mut self, bytes: &[u8]) {
        self.put_slice(bytes)
    }
}

/// A [`Sink`] over a caller's buffer, for targets without `alloc`: [`len`](Self::len) is
/// what was written so far.
///
/// ```
/// use batchpart::encoder::{EncodeErrorKind, Encoder, SliceWriter};
///
/// let mut enc = Encoder::new(b"b")?;
/// let mut small = [0u8; 8];
/// let mut out = SliceWriter::new(&mut small);
/// // Not enough room: nothing written, nothing changed.
/// let e = enc.part([("Content-Type", "text/plain")], &mut out).unwrap_err();
/// assert_eq!((e.kind(), out.len()), (EncodeErrorKind::NeedsRoom, 0));
/// let mut buf = [0u8; 64];
/// let mut out = SliceWriter::new(&mut buf);
/// enc.part([("Content-Type", "text/plain")], &mut out)?;
/// assert_eq!(out.written(), b"--b\r\nContent-Type: text/plain\r\n\r\n");
/// # Ok::<(), batchpart::encoder::EncodeError>(())
/// ```
#[derive(Debug)]
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceWriter<'a> {
    /// Writes into `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, len: 0 }
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What was written.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets what was written (after the caller sent it), to write from the start again.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl Sink for SliceWriter<'_> {
    fn room(&self) -> usize {
        self.buf.len() - self.len
    }
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }
}

/// Counts what a write would take.
pub(super) struct Count(pub(super) usize);

impl Sink for Count {
    fn room(&self) -> usize {
        usize::MAX
    }
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// A `?Sized` sink seen as a `dyn Sink`.
pub(super) struct Adapter<'s, S: ?Sized>(pub(super) &'s mut S);

impl<S: Sink + ?Sized> Sink for Adapter<'_, S> {
    fn room(&self) -> usize {
        self.0.room()
    }
    fn put(&mut self, bytes: &[u8]) {
        self.0.put(bytes)
    }
}
