#![no_main]
//! The extensions' decoders: dictionary, AppDataUpdate, AppEphemeral, SafeAAD, media types, multi-credential bindings, UserInfo VC JWTs.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mlsx_fuzz::all::extensions(data));
