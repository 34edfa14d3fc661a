#![no_main]
//! Arbitrary and mutated FULL/PARTIAL commits, proposal pairs and messages fed to a member of a two-member hybrid session: no panic, a refusal leaves the session byte-identical, an accepted commit agrees with its sender.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mlsx_fuzz::all::stateful_hybrid(data));
