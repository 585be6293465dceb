//! The daemon's logger: leveled lines on stderr (`log level` in smb.conf, 0-10 as in Samba).
//! The engine reports through [`smb_proto::Policy::log`], which lands here; built with the
//! `defmt` feature, the core crates log through defmt instead.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);

/// Sets the Samba-style log level.
pub fn set_level(level: u8) {
    LEVEL.store(level, Ordering::Relaxed);
}

/// Whether messages of `level` are shown.
pub fn enabled(level: u8) -> bool {
    level <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line when `level` is enabled.
pub fn write(level: u8, args: std::fmt::Arguments<'_>) {
    if enabled(level) {
        let tag = match level {
            0 => "error",
            1 => "warn",
            2 => "info",
            _ => "debug",
        };
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "smbed[{tag}]: {args}");
    }
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write(0, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write(1, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write(2, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write(3, format_args!($($t)*)) } }
