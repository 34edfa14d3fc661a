//! Array-based tree math (RFC 9420 Appendix C).
