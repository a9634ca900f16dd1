//! Reading files that are small by nature (a key, a control mapping, a price table) with a
//! limit, so that a wrong path (`/dev/zero`, a log given as a key) gets an error naming the
//! limit rather than all the memory the machine has.

use std::io::{self, Read};
use std::path::Path;

/// The most bytes a key file may hold: keys are tens of bytes; a file this large is not one.
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;
/// The most bytes a configuration file (a control mapping, a price table) may hold.
pub(crate) const MAX_CONFIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes of the file at `path`, or an error of kind `InvalidData` when it holds more than
/// `limit` bytes (only `limit + 1` are ever read).
pub(crate) fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    // The file's size when it has one, to read without growing the buffer (for a key, without
    // leaving copies of it behind in freed memory); a device or pipe reports none.
    let expected = file.metadata().map_or(0, |m| m.len()).min(limit + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).max(64));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} bytes: not the file expected here", limit),
        ));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub(crate) fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_within_the_limit_is_read_whole_and_a_larger_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read(&path, 10).unwrap(), b"0123456789");
        let err = read(&path, 9).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("larger than 9 bytes"), "{err}");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(
            read_to_string(&path, 10)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_endless_device_is_refused_after_the_limit() {
        let err = read(Path::new("/dev/zero"), 1 << 16).unwrap_err();
        assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
    }
}
