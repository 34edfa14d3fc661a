//! RFC 9420 wire structs.
