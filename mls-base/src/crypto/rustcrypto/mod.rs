//! The classical provider for RFC 9420 suites 0x0001–0x0007.
