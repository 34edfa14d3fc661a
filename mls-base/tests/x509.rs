//! The X.509 credential validator (RFC 9420 §5.3.1) with certificates
//! built here: a P-256 root CA and member certificates.
#![cfg(feature = "x509")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::time::Duration;

use mlsx_base::codec::{Certificate as MlsCertificate, Credential, VLBytes};
use mlsx_base::group::{CredentialValidator, X509CredentialValidator};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use x509_cert::builder::{Builder, CertificateBuilder, profile};
use x509_cert::der::Encode;
use x509_cert::der::asn1::Ia5String;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

fn root(name: &str) -> (SigningKey, Vec<u8>) {
    let key = SigningKey::generate();
    let subject = Name::from_str(&format!("CN={name},O=mlsx test,C=US")).unwrap();
    let profile = profile::cabf::Root::new(false, subject).unwrap();
    let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).unwrap();
    let validity = Validity::from_now(Duration::from_secs(3600)).unwrap();
    let cert = CertificateBuilder::new(profile, SerialNumber::from(1u32), validity, spki)
        .unwrap()
        .build::<_, DerSignature>(&key)
        .unwrap();
    (key, cert.to_der().unwrap())
}

fn leaf(issuer_key: &SigningKey, issuer: &str, member: &SigningKey, lifetime: u64) -> Vec<u8> {
    leaf_for(issuer_key, issuer, member, lifetime, "member.example")
}

fn leaf_for(issuer_key: &SigningKey, issuer: &str, member: &SigningKey, lifetime: u64, dns: &str) -> Vec<u8> {
    let subject = Name::from_str(&format!("CN={dns},C=US")).unwrap();
    let profile = profile::cabf::tls::Subscriber {
        certificate_type: profile::cabf::tls::CertificateType::domain_validated(
            subject,
            vec![GeneralName::DnsName(Ia5String::new(dns.as_bytes()).unwrap())],
        )
        .unwrap(),
        issuer: Name::from_str(&format!("CN={issuer},O=mlsx test,C=US")).unwrap(),
        client_auth: true,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(member.verifying_key()).unwrap();
    let validity = Validity::from_now(Duration::from_secs(lifetime)).unwrap();
    CertificateBuilder::new(profile, SerialNumber::from(2u32), validity, spki)
        .unwrap()
        .build::<_, DerSignature>(issuer_key)
        .unwrap()
        .to_der()
        .unwrap()
}

fn credential(certs: &[&Vec<u8>]) -> Credential {
    Credential::X509(
        certs
            .iter()
            .map(|c| MlsCertificate {
                cert_data: VLBytes::new((*c).clone()),
            })
            .collect(),
    )
}

fn sec1(key: &SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

#[test]
fn chain_to_anchor_binding_and_validity() {
    let (root_key, root_cert) = root("root");
    let member = SigningKey::generate();
    let cert = leaf(&root_key, "root", &member, 3600);
    let v = X509CredentialValidator::new(std::slice::from_ref(&root_cert)).unwrap();

    // Leaf alone, and leaf + root.
    v.validate(&credential(&[&cert]), &sec1(&member)).unwrap();
    v.validate(&credential(&[&cert, &root_cert]), &sec1(&member)).unwrap();
    // The signature key must be the certificate's key.
    let other = SigningKey::generate();
    assert!(v.validate(&credential(&[&cert]), &sec1(&other)).is_err());
    // A chain from another CA with the same name is rejected.
    let (evil_key, _) = root("root");
    let forged = leaf(&evil_key, "root", &member, 3600);
    assert!(v.validate(&credential(&[&forged]), &sec1(&member)).is_err());
    // Outside the validity period.
    let far_future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 10 * 3600;
    assert!(
        v.clone()
            .at_time(far_future)
            .validate(&credential(&[&cert]), &sec1(&member))
            .is_err()
    );
    // Other credential types and garbage are rejected, never a panic.
    assert!(v.validate(&Credential::Basic(VLBytes::new(b"x".to_vec())), &sec1(&member)).is_err());
    assert!(v.validate(&credential(&[&vec![0x30, 0x03, 0x01]]), &sec1(&member)).is_err());
    assert!(v.validate(&Credential::X509(vec![]), &sec1(&member)).is_err());
    // A leaf certificate cannot act as a CA.
    let under_leaf = leaf(&member, "member", &other, 3600);
    assert!(v.validate(&credential(&[&under_leaf, &cert]), &sec1(&other)).is_err());
}

#[test]
fn successors_keep_subject_and_alt_names() {
    let (root_key, root_cert) = root("root");
    let v = X509CredentialValidator::new(std::slice::from_ref(&root_cert)).unwrap();
    let member = SigningKey::generate();
    let old = leaf(&root_key, "root", &member, 3600);
    // A new key and certificate for the same name: a valid successor.
    let renewed = leaf(&root_key, "root", &SigningKey::generate(), 7200);
    v.valid_successor(&credential(&[&old]), &credential(&[&renewed])).unwrap();
    // Another subject: not the same member.
    let other = leaf_for(&root_key, "root", &SigningKey::generate(), 3600, "other.example");
    let e = v.valid_successor(&credential(&[&old]), &credential(&[&other])).unwrap_err();
    assert!(
        matches!(
            e,
            mlsx_base::Error::Peer(mlsx_base::PeerError::InvalidLeaf(mlsx_base::group::LeafError::InvalidSuccessor))
        ),
        "{e:?}"
    );
    // Another credential type is not a successor either.
    assert!(
        v.valid_successor(&credential(&[&old]), &Credential::Basic(VLBytes::new(b"x".to_vec())))
            .is_err()
    );
}
