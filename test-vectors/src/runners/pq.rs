//! Known-answer tests of the PQ building blocks (`x-wing/`, `hpke-pq/`,
//! `ml-kem/`, `ml-dsa/` in the shared vectors; sources in its README),
//! run against the components of `mlsx-pq-suites` and, for the DHKEMs of
//! `hpke-pq`, of `mlsx-base`.

use mlsx_base::crypto::rustcrypto::{AeadAlg, DhKem, HashAlg, HpkeSuite};
use mlsx_base::crypto::{HpkeKem, HpkePrivateKey, Secret};
use mlsx_base::error::CryptoError;
use mlsx_pq_suites::mldsa::Signing;
use mlsx_pq_suites::{Backend, HybridKem, KeyDerivation, MlDsa, MlKem};
use serde::Deserialize;

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct XWingCase {
    seed: Hex,
    eseed: Hex,
    ss: Hex,
    sk: Hex,
    pk: Hex,
    ct: Hex,
}

/// `x-wing/test-vectors.json`: key generation from the seed, derandomized
/// encapsulation and decapsulation.
pub(crate) fn xwing(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let cases: Vec<XWingCase> = serde_json::from_str(json)?;
    let kem = HybridKem::XWing(KeyDerivation::Labeled, backend);
    for (i, c) in cases.iter().enumerate() {
        report.record(
            i,
            (|| {
                check("sk", &c.seed, &c.sk)?;
                check("pk", &kem.public_key_from_seed(&c.seed).map_err(ctx("keygen"))?, &c.pk)?;
                let (ss, ct) = kem.encap_derand(&c.pk, &c.eseed).map_err(ctx("encap"))?;
                check("ct", &ct, &c.ct)?;
                check("ss (encap)", ss.as_bytes(), &c.ss)?;
                check("ss (decap)", kem.decap_seed(&c.sk, &c.ct).map_err(ctx("decap"))?.as_bytes(), &c.ss)
            })(),
        );
    }
    Ok(())
}

#[derive(Deserialize)]
struct HpkeCase {
    mode: u8,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    info: Hex,
    #[serde(rename = "ikmE")]
    ikm_e: Hex,
    #[serde(rename = "ikmR")]
    ikm_r: Hex,
    #[serde(rename = "skRm")]
    sk_rm: Hex,
    #[serde(rename = "pkRm")]
    pk_rm: Hex,
    enc: Hex,
    shared_secret: Hex,
    key: Hex,
    base_nonce: Hex,
    exporter_secret: Hex,
    encryptions: Vec<HpkeEncryption>,
    exports: Vec<HpkeExport>,
}

#[derive(Deserialize)]
struct HpkeEncryption {
    aad: Hex,
    ct: Hex,
    nonce: Hex,
    pt: Hex,
}

#[derive(Deserialize)]
struct HpkeExport {
    exporter_context: Hex,
    #[serde(rename = "L")]
    len: usize,
    exported_value: Hex,
}

/// A KEM of the `hpke-pq` file with its derandomized encapsulation.
enum AnyKem {
    Dh(DhKem),
    MlKem(MlKem),
    Hybrid(HybridKem),
}

impl AnyKem {
    fn of(kem_id: u16, backend: Backend) -> Option<Self> {
        let d = KeyDerivation::Labeled;
        Some(match kem_id {
            0x0010 => Self::Dh(DhKem::P256),
            0x0011 => Self::Dh(DhKem::P384),
            0x0012 => Self::Dh(DhKem::P521),
            0x0020 => Self::Dh(DhKem::X25519),
            0x0021 => Self::Dh(DhKem::X448),
            0x0041 => Self::MlKem(MlKem::MlKem768(d, backend)),
            0x0042 => Self::MlKem(MlKem::MlKem1024(d, backend)),
            0x0050 => Self::Hybrid(HybridKem::MlKem768P256(d, backend)),
            0x0051 => Self::Hybrid(HybridKem::MlKem1024P384(d, backend)),
            0x647a => Self::Hybrid(HybridKem::XWing(d, backend)),
            _ => return None,
        })
    }

    fn kem(&self) -> &dyn HpkeKem {
        match self {
            Self::Dh(k) => k,
            Self::MlKem(k) => k,
            Self::Hybrid(k) => k,
        }
    }

    /// `Encap` with the vector's `ikmE`: the ephemeral `DeriveKeyPair`
    /// input for a DHKEM, the encapsulation randomness otherwise.
    fn encap_derand(&self, pk: &[u8], ikm_e: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError> {
        match self {
            Self::Dh(k) => k.encap_derand(pk, ikm_e),
            Self::MlKem(k) => k.encap_derand(pk, ikm_e),
            Self::Hybrid(k) => k.encap_derand(pk, ikm_e),
        }
    }
}

/// `hpke-pq/test-vectors.json`. Every entry's KEM is checked (key
/// derivation, encapsulation, decapsulation). Entries with an HKDF are
/// checked end to end (key schedule, all encryptions, all exports); the
/// single-stage SHAKE/TurboSHAKE KDFs (0x0010–0x0013), which no MLS suite
/// uses, are not implemented, so those entries stop after the KEM and say so.
/// `info`, `aad` and `pt` are used as the hex decodes once (they are hex
/// text of hex; see the vectors' README).
pub(crate) fn hpke_pq(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let cases: Vec<HpkeCase> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        let Some(kem) = AnyKem::of(c.kem_id, backend) else {
            report.skip(i, format!("KEM {:#06x} not implemented", c.kem_id));
            continue;
        };
        let kdf = match c.kdf_id {
            1 => Some(HashAlg::Sha256),
            2 => Some(HashAlg::Sha384),
            3 => Some(HashAlg::Sha512),
            _ => None,
        };
        let aead = match c.aead_id {
            1 => Some(AeadAlg::Aes128Gcm),
            2 => Some(AeadAlg::Aes256Gcm),
            3 => Some(AeadAlg::ChaCha20Poly1305),
            _ => None,
        };
        let result = (|| {
            if c.mode != 0 {
                return Err(format!("mode {} (only base mode is used by MLS)", c.mode));
            }
            let (sk, pk) = kem.kem().derive_key_pair(&c.ikm_r).map_err(ctx("DeriveKeyPair"))?;
            check("skRm", sk.as_bytes(), &c.sk_rm)?;
            check("pkRm", &pk, &c.pk_rm)?;
            let (ss, enc) = kem.encap_derand(&c.pk_rm, &c.ikm_e).map_err(ctx("Encap"))?;
            check("enc", &enc, &c.enc)?;
            check("shared_secret (Encap)", ss.as_bytes(), &c.shared_secret)?;
            let ss = kem
                .kem()
                .decap(&c.enc, &HpkePrivateKey::from_slice(&c.sk_rm))
                .map_err(ctx("Decap"))?;
            check("shared_secret (Decap)", ss.as_bytes(), &c.shared_secret)?;
            let (Some(kdf), Some(aead)) = (kdf, aead) else {
                return Ok(false);
            };
            let suite = HpkeSuite {
                kem_id: c.kem_id,
                kdf,
                aead,
            };
            let context = suite.key_schedule(&c.shared_secret, &c.info).map_err(ctx("KeySchedule"))?;
            check("key", context.key().as_bytes(), &c.key)?;
            check("base_nonce", context.base_nonce().as_bytes(), &c.base_nonce)?;
            check("exporter_secret", context.exporter_secret().as_bytes(), &c.exporter_secret)?;
            for (seq, e) in c.encryptions.iter().enumerate() {
                let ct = context.seal(seq as u64, &e.aad, &e.pt).map_err(ctx("Seal"))?;
                check(&format!("encryption {seq} ct"), &ct, &e.ct)?;
                let pt = context.open(seq as u64, &e.aad, &e.ct).map_err(ctx("Open"))?;
                check(&format!("encryption {seq} pt"), pt.as_bytes(), &e.pt)?;
                let _ = &e.nonce;
            }
            for (n, x) in c.exports.iter().enumerate() {
                let v = context.export(&x.exporter_context, x.len).map_err(ctx("Export"))?;
                check(&format!("export {n}"), v.as_bytes(), &x.exported_value)?;
            }
            Ok(true)
        })();
        match result {
            Ok(true) => report.record(i, Ok(())),
            Ok(false) => {
                report.record(i, Ok(()));
                report.skip(
                    i,
                    format!(
                        "KEM checked; key schedule with single-stage KDF {:#06x} not implemented (no MLS suite uses it)",
                        c.kdf_id
                    ),
                );
            }
            Err(e) => report.record(i, Err(format!("KEM {:#06x} KDF {:#06x}: {e}", c.kem_id, c.kdf_id))),
        }
    }
    Ok(())
}

fn ml_kem(parameter_set: &str, backend: Backend) -> Option<MlKem> {
    let d = KeyDerivation::Labeled;
    match parameter_set {
        "ML-KEM-768" => Some(MlKem::MlKem768(d, backend)),
        "ML-KEM-1024" => Some(MlKem::MlKem1024(d, backend)),
        _ => None,
    }
}

fn ml_dsa(parameter_set: &str, signing: Signing, backend: Backend) -> Option<MlDsa> {
    match parameter_set {
        "ML-DSA-44" => Some(MlDsa::MlDsa44(signing, backend)),
        "ML-DSA-65" => Some(MlDsa::MlDsa65(signing, backend)),
        "ML-DSA-87" => Some(MlDsa::MlDsa87(signing, backend)),
        _ => None,
    }
}

#[derive(Deserialize)]
struct AcvpFile<T> {
    #[serde(rename = "testGroups")]
    test_groups: Vec<AcvpGroup<T>>,
}

#[derive(Deserialize)]
struct AcvpGroup<T> {
    #[serde(rename = "parameterSet")]
    parameter_set: String,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    dk: Option<Hex>,
    tests: Vec<T>,
}

#[derive(Deserialize)]
struct MlKemKeyGen {
    d: Hex,
    z: Hex,
    ek: Hex,
    dk: Hex,
}

/// `ml-kem/acvp/key-gen.json`: `(d, z)` → `ek` and the expanded `dk`.
/// ML-KEM-512 is not used by MLS and is skipped.
pub(crate) fn ml_kem_acvp_keygen(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let file: AcvpFile<MlKemKeyGen> = serde_json::from_str(json)?;
    let mut i = 0;
    for g in &file.test_groups {
        for t in &g.tests {
            match ml_kem(&g.parameter_set, backend) {
                None => report.skip(i, format!("{} is not used by MLS", g.parameter_set)),
                Some(kem) => report.record(i, {
                    let seed = [&t.d[..], &t.z[..]].concat();
                    (|| {
                        check("ek", &kem.public_key_from_seed(&seed).map_err(ctx("keygen"))?, &t.ek)?;
                        check("dk", &kem.expanded_key_from_seed(&seed).map_err(ctx("keygen"))?, &t.dk)
                    })()
                }),
            }
            i += 1;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct MlKemEncapDecap {
    #[serde(default)]
    ek: Option<Hex>,
    #[serde(default)]
    m: Option<Hex>,
    c: Hex,
    k: Hex,
}

/// `ml-kem/acvp/encap-decap.json`: encapsulation with a given `m`, and
/// decapsulation with an expanded `dk` (valid and modified ciphertexts).
pub(crate) fn ml_kem_acvp_encap_decap(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let file: AcvpFile<MlKemEncapDecap> = serde_json::from_str(json)?;
    let mut i = 0;
    for g in &file.test_groups {
        for t in &g.tests {
            let Some(kem) = ml_kem(&g.parameter_set, backend) else {
                report.skip(i, format!("{} is not used by MLS", g.parameter_set));
                i += 1;
                continue;
            };
            let result = match (g.function.as_deref(), &t.ek, &t.m, &g.dk) {
                (Some("encapsulation"), Some(ek), Some(m), _) => (|| {
                    let (k, c) = kem.encap_derand(ek, m).map_err(ctx("encap"))?;
                    check("c", &c, &t.c)?;
                    check("k", k.as_bytes(), &t.k)
                })(),
                (Some("decapsulation"), _, _, Some(dk)) => kem
                    .decap_expanded(dk, &t.c)
                    .map_err(|e| format!("decap: {e}"))
                    .and_then(|k| check("k", k.as_bytes(), &t.k)),
                (f, ..) => Err(format!("unexpected test shape (function {f:?})")),
            };
            report.record(i, result);
            i += 1;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct WycheproofFile<G> {
    #[serde(rename = "testGroups")]
    test_groups: Vec<G>,
}

#[derive(Deserialize)]
struct MlKemWycheproofGroup {
    #[serde(rename = "parameterSet")]
    parameter_set: String,
    tests: Vec<MlKemWycheproofTest>,
}

#[derive(Deserialize)]
struct MlKemWycheproofTest {
    #[serde(rename = "tcId")]
    tc_id: u64,
    #[serde(default)]
    seed: Option<Hex>,
    #[serde(default)]
    m: Option<Hex>,
    #[serde(default)]
    ek: Option<Hex>,
    c: Hex,
    #[serde(rename = "K", default)]
    k: Option<Hex>,
    result: String,
}

/// `mlkem_*_test.json` (key generation from a seed, then decapsulation)
/// and `mlkem_*_encaps_test.json` (encapsulation with a given `m`,
/// including keys that fail the modulus check). An `invalid` case passes
/// when mlsx refuses it.
pub(crate) fn ml_kem_wycheproof(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let file: WycheproofFile<MlKemWycheproofGroup> = serde_json::from_str(json)?;
    let mut i = 0;
    for g in &file.test_groups {
        let Some(kem) = ml_kem(&g.parameter_set, backend) else {
            for _ in &g.tests {
                report.skip(i, format!("{} is not used by MLS", g.parameter_set));
                i += 1;
            }
            continue;
        };
        for t in &g.tests {
            let outcome: Result<(), String> = (|| {
                let (k, c) = match (&t.seed, &t.m, &t.ek) {
                    (Some(seed), _, ek) => {
                        if let Some(ek) = ek {
                            check("ek", &kem.public_key_from_seed(seed).map_err(ctx("keygen"))?, ek)?;
                        }
                        (kem.decap_seed(seed, &t.c).map_err(ctx("decap"))?, None)
                    }
                    (None, Some(m), Some(ek)) => {
                        let (k, c) = kem.encap_derand(ek, m).map_err(ctx("encap"))?;
                        (k, Some(c))
                    }
                    _ => return Err("unexpected test shape".into()),
                };
                if let Some(c) = c {
                    check("c", &c, &t.c)?;
                }
                match &t.k {
                    Some(want) => check("K", k.as_bytes(), want),
                    None => Ok(()),
                }
            })();
            let result = match (t.result.as_str(), outcome) {
                ("valid" | "acceptable", r) => r,
                (_, Ok(())) => Err("accepted an invalid case".into()),
                (_, Err(_)) => Ok(()),
            };
            report.record(i, result.map_err(|e| format!("tcId {}: {e}", t.tc_id)));
            i += 1;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct MlDsaKeyGen {
    seed: Hex,
    pk: Hex,
    sk: Hex,
}

/// `ml-dsa/acvp/key-gen.json`: seed → public key and expanded private key.
pub(crate) fn ml_dsa_acvp_keygen(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let file: AcvpFile<MlDsaKeyGen> = serde_json::from_str(json)?;
    let mut i = 0;
    for g in &file.test_groups {
        for t in &g.tests {
            report.record(
                i,
                match ml_dsa(&g.parameter_set, Signing::Hedged, backend) {
                    None => Err(format!("unknown parameter set {}", g.parameter_set)),
                    Some(alg) => (|| {
                        use mlsx_base::crypto::{SignaturePrivateKey, SignatureScheme};
                        let pk = alg.public_key(&SignaturePrivateKey::from_slice(&t.seed)).map_err(ctx("keygen"))?;
                        check("pk", &pk, &t.pk)?;
                        check("sk", &alg.expanded_key_from_seed(&t.seed).map_err(ctx("keygen"))?, &t.sk)
                    })(),
                },
            );
            i += 1;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct MlDsaSignGroup {
    #[serde(rename = "privateSeed")]
    private_seed: Hex,
    /// Absent (`null`) in the groups whose private key has a bad length.
    #[serde(rename = "publicKey", default)]
    public_key: Option<Hex>,
    tests: Vec<MlDsaTest>,
}

#[derive(Deserialize)]
struct MlDsaVerifyGroup {
    #[serde(rename = "publicKey")]
    public_key: Hex,
    tests: Vec<MlDsaTest>,
}

#[derive(Deserialize)]
struct MlDsaTest {
    #[serde(rename = "tcId")]
    tc_id: u64,
    #[serde(default)]
    msg: Option<Hex>,
    #[serde(default)]
    ctx: Option<Hex>,
    #[serde(default)]
    rnd: Option<Hex>,
    sig: Hex,
    result: String,
}

#[derive(Deserialize)]
struct WycheproofAlgorithm {
    algorithm: String,
}

fn verdict(tc_id: u64, result: &str, outcome: Result<(), String>) -> Result<(), String> {
    match (result, outcome) {
        ("valid" | "acceptable", r) => r,
        (_, Ok(())) => Err("accepted an invalid case".into()),
        (_, Err(_)) => Ok(()),
    }
    .map_err(|e| format!("tcId {tc_id}: {e}"))
}

/// `mldsa_*_sign_seed_test.json`: signing from a seed, deterministic when
/// the case has no `rnd`, with `rnd` otherwise. Cases that give only `μ`
/// (flag `Internal`) are skipped: mlsx does not sign a precomputed `μ`.
pub(crate) fn ml_dsa_wycheproof_sign(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let alg: WycheproofAlgorithm = serde_json::from_str(json)?;
    let file: WycheproofFile<MlDsaSignGroup> = serde_json::from_str(json)?;
    let mut i = 0;
    for g in &file.test_groups {
        for t in &g.tests {
            let Some(scheme) = ml_dsa(&alg.algorithm, Signing::Deterministic, backend) else {
                report.skip(i, format!("unknown algorithm {}", alg.algorithm));
                i += 1;
                continue;
            };
            let Some(msg) = &t.msg else {
                report.skip(i, "signs a precomputed mu (Internal)");
                i += 1;
                continue;
            };
            let ctx_bytes = t.ctx.as_deref().unwrap_or_default();
            let outcome = (|| {
                let sig = match &t.rnd {
                    Some(rnd) => scheme.sign_with_rnd(&g.private_seed, msg, ctx_bytes, rnd),
                    None => scheme.sign_with_context(&g.private_seed, msg, ctx_bytes),
                }
                .map_err(ctx("sign"))?;
                check("sig", &sig, &t.sig)?;
                let pk = g.public_key.as_deref().ok_or("valid signature without a public key")?;
                scheme.verify_with_context(pk, msg, &sig, ctx_bytes).map_err(ctx("verify own"))
            })();
            report.record(i, verdict(t.tc_id, &t.result, outcome));
            i += 1;
        }
    }
    Ok(())
}

/// `mldsa_*_verify_test.json`: verification of valid signatures and of
/// malformed signatures, keys and contexts.
pub(crate) fn ml_dsa_wycheproof_verify(json: &str, report: &mut Report, backend: Backend) -> Result<(), serde_json::Error> {
    let alg: WycheproofAlgorithm = serde_json::from_str(json)?;
    let file: WycheproofFile<MlDsaVerifyGroup> = serde_json::from_str(json)?;
    let mut i = 0;
    for g in &file.test_groups {
        for t in &g.tests {
            let outcome = match (ml_dsa(&alg.algorithm, Signing::Hedged, backend), &t.msg) {
                (Some(scheme), Some(msg)) => scheme
                    .verify_with_context(&g.public_key, msg, &t.sig, t.ctx.as_deref().unwrap_or_default())
                    .map_err(|e| e.to_string()),
                (None, _) => Err(format!("unknown algorithm {}", alg.algorithm)),
                (_, None) => Err("no message".into()),
            };
            report.record(i, verdict(t.tc_id, &t.result, outcome));
            i += 1;
        }
    }
    Ok(())
}
