//! A byte reader that never fails (an exhausted input reads as zeros), and
//! the writer that makes inputs it reads back exactly: the seeds of the
//! structured targets are written with it.

/// Reads fuzz input front to back.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// A number below `n` (which must not be 0).
    pub fn below(&mut self, n: u8) -> usize {
        usize::from(self.u8() % n)
    }

    /// A flag.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A small number as one byte, or a large one: 255 is followed by
    /// eight bytes.
    pub fn num(&mut self) -> u64 {
        match self.u8() {
            255 => self.u64(),
            b => u64::from(b),
        }
    }

    /// A run of bytes with a two-byte length (cut at what is left).
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16()).min(self.data.len());
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        b
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Writes what [`Reader`] reads.
#[derive(Default)]
pub struct Writer {
    /// The input written so far.
    pub out: Vec<u8>,
}

impl Writer {
    /// One byte.
    pub fn u8(&mut self, b: u8) -> &mut Self {
        self.out.push(b);
        self
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A flag.
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.u8(u8::from(b))
    }

    /// A number as [`Reader::num`] reads it.
    pub fn num(&mut self, v: u64) -> &mut Self {
        match u8::try_from(v) {
            Ok(b) if b < 255 => self.u8(b),
            _ => self.u8(255).u64(v),
        }
    }

    /// A run of bytes with its two-byte length.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        let n = u16::try_from(b.len()).expect("at most 64 KiB");
        self.u16(n);
        self.out.extend_from_slice(b);
        self
    }

    /// Bytes as they are (a rest).
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }
}
