//! Content advertisement (§6.2): the `content_media_types` component
//! (0x0003) lists, in a LeafNode, the media types its client can receive
//! and, in the GroupContext, the types every member must support; in such
//! a group every `application_data` is an [`ApplicationFraming`] naming
//! its content's type.
//!
//! Media types are parsed from text (the `mime` crate for the type and
//! subtype, checked again against RFC 6838 §4.2 restricted names, which
//! `mime` does not fully enforce; the parameters here, because `mime`
//! rewrites some values and takes no RFC 2045 quoted-pairs) and compared
//! as RFC 6838 and RFC 2045 say: type, subtype and parameter names without
//! regard to case, parameter values exactly, except `charset`, whose values
//! are case-insensitive (RFC 2046 §4.1.2), and parameters in any order.

use std::str::FromStr;

use mlsx_base::codec::{GroupContext, decode, encode};
use mlsx_base::group::hooks::ExtensionContext;

use crate::codec::{ApplicationFraming, MediaType, MediaTypeList, Parameter};
use crate::component::{Component, Rejection};
use crate::{CONTENT_MEDIA_TYPES, ComponentId, Error};

impl MediaType {
    /// Parses a media type written as in RFC 6838 and RFC 2045
    /// (`text/plain; charset="UTF-8"`): the type and subtype (and names)
    /// are kept in lower case; a quoted value loses its quotes and the
    /// backslashes of its quoted-pairs.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidMediaType(format!("{text:?}: {why}"));
        let compact = without_whitespace(text);
        let parts = split_outside_quotes(&compact, ';');
        // `mime` checks type and subtype (RFC 6838 §4.2) and gives the
        // essence. The parameters are read here: `mime` rewrites some values
        // (charset in lower case), which the draft keeps as written, and
        // does not take the quoted-pairs of RFC 2045.
        let essence = parts.first().copied().unwrap_or_default();
        let m = mime::Mime::from_str(essence).map_err(|e| bad(&e.to_string()))?;
        // `mime` takes an empty subtype ("text/"): RFC 6838 §4.2 does not.
        let (top, sub) = essence.split_once('/').unwrap_or((essence, ""));
        if !is_restricted_name(top) || !is_restricted_name(sub) {
            return Err(bad("type and subtype must be RFC 6838 restricted names"));
        }
        let mut parameters = vec![];
        for p in parts.iter().skip(1).filter(|p| !p.is_empty()) {
            let (name, value) = p.split_once('=').ok_or_else(|| bad("a parameter without a value"))?;
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(bad("a parameter name is not a token"));
            }
            let value = match value.strip_prefix('"') {
                Some(_) => unquote(value).ok_or_else(|| bad("an unterminated quoted-string"))?,
                None if !value.is_empty() && value.bytes().all(is_token_byte) => value.to_owned(),
                None => return Err(bad("a parameter value is neither a token nor a quoted-string")),
            };
            parameters.push(Parameter {
                parameter_name: name.to_ascii_lowercase().into_bytes().into(),
                parameter_value: value.into_bytes().into(),
            });
        }
        Ok(Self {
            media_type: m.essence_str().to_ascii_lowercase().into_bytes().into(),
            parameters,
        })
    }

    /// The type written out, with each parameter value quoted when it is
    /// not a token.
    pub fn to_text(&self) -> String {
        let mut out = String::from_utf8_lossy(self.media_type.as_slice()).into_owned();
        for p in &self.parameters {
            let value = String::from_utf8_lossy(p.parameter_value.as_slice());
            let token = !value.is_empty() && value.bytes().all(is_token_byte);
            out.push_str("; ");
            out.push_str(&String::from_utf8_lossy(p.parameter_name.as_slice()));
            out.push('=');
            if token {
                out.push_str(&value);
            } else {
                out.push('"');
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
        out
    }

    /// Whether this is the empty type of [`ApplicationFraming`] (§6.2).
    pub fn is_default(&self) -> bool {
        self.media_type.as_slice().is_empty()
    }

    /// Whether two media types are the same (see the module text).
    pub fn same_as(&self, other: &MediaType) -> bool {
        if !self.media_type.as_slice().eq_ignore_ascii_case(other.media_type.as_slice()) || self.parameters.len() != other.parameters.len()
        {
            return false;
        }
        self.parameters.iter().all(|p| {
            other.parameters.iter().any(|q| {
                let name = p.parameter_name.as_slice();
                name.eq_ignore_ascii_case(q.parameter_name.as_slice())
                    && if name.eq_ignore_ascii_case(b"charset") {
                        p.parameter_value.as_slice().eq_ignore_ascii_case(q.parameter_value.as_slice())
                    } else {
                        p.parameter_value == q.parameter_value
                    }
            })
        })
    }
}

impl std::fmt::Display for MediaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// The text without the whitespace RFC 2045 allows around the separators
/// `;` and `=` and at either end (the draft's own example is
/// `text/plain ;charset="UTF-8"`), which `mime` does not take. Whitespace
/// elsewhere outside a quoted-string stays, and makes the text invalid.
fn without_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in text.trim().chars() {
        if quoted {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            pending.push(c);
            continue;
        }
        // Whitespace between two non-separators stays.
        let around_separator = matches!(c, ';' | '=') || matches!(out.chars().last(), Some(';' | '='));
        if !around_separator {
            out.push_str(&pending);
        }
        pending.clear();
        quoted = c == '"';
        out.push(c);
    }
    out
}

/// Splits at `sep` where it is not inside a quoted-string.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = vec![];
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, c) if c == sep => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// RFC 6838 §4.2 `restricted-name`: 1 to 127 characters, the first a
/// letter or digit, the others letters, digits or `!#$&-^_.+`.
fn is_restricted_name(name: &str) -> bool {
    let b = name.as_bytes();
    matches!(b.first(), Some(c) if c.is_ascii_alphanumeric())
        && b.len() <= 127
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(c))
}

/// RFC 2045 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !br#"()<>@,;:\"/[]?="#.contains(&b)
}

/// The contents of an RFC 2045 quoted-string (quotes and quoted-pair
/// backslashes removed), or `None` if `value` is not exactly one
/// quoted-string.
fn unquote(value: &str) -> Option<String> {
    let mut chars = value.strip_prefix('"')?.chars();
    let mut out = String::with_capacity(value.len());
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

impl MediaTypeList {
    /// A list from media types written as text.
    pub fn parse<'a>(types: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        Ok(Self {
            media_type_list: types.into_iter().map(MediaType::parse).collect::<Result<_, _>>()?,
        })
    }

    /// Whether the list has a type the same as `t`.
    pub fn supports(&self, t: &MediaType) -> bool {
        self.media_type_list.iter().any(|m| m.same_as(t))
    }

    /// The list's encoding, the component's data.
    pub fn to_data(&self) -> Result<Vec<u8>, Error> {
        Ok(encode(self)?)
    }

    /// Decodes and checks a component entry: a non-empty list (§6.2) of
    /// non-empty types.
    pub fn from_data(data: &[u8]) -> Result<Self, Error> {
        let list: Self = decode(data)?;
        if list.media_type_list.is_empty() {
            return Err(Error::InvalidMediaType("content_media_types is empty".into()));
        }
        if list.media_type_list.iter().any(MediaType::is_default) {
            return Err(Error::InvalidMediaType("an empty media type in content_media_types".into()));
        }
        Ok(list)
    }
}

/// The `content_media_types` component. Register it
/// ([`Extensions::register`](crate::Extensions::register)) to check the
/// lists and frames of a group; put the client's own list in its leaves
/// with [`Extensions::advertise_media_types`](crate::Extensions::advertise_media_types).
#[derive(Clone, Copy, Debug, Default)]
pub struct ContentMediaTypes;

impl Component for ContentMediaTypes {
    fn id(&self) -> ComponentId {
        CONTENT_MEDIA_TYPES
    }

    /// A non-empty list wherever it appears.
    fn validate_data(&self, _: ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        MediaTypeList::from_data(data)
            .map(|_| ())
            .map_err(|e| Rejection::new(e.to_string()))
    }
}

/// The group's required media types, if its GroupContext has
/// `content_media_types` (then every application_data is framed).
pub(crate) fn required(dictionary: &crate::AppDataDictionary) -> Result<Option<MediaTypeList>, Error> {
    dictionary.get(CONTENT_MEDIA_TYPES).map(MediaTypeList::from_data).transpose()
}

/// Frames content for a group: with `media_type` `None`, the empty type
/// (the group's first type).
pub fn frame(media_type: Option<&MediaType>, content: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(encode(&ApplicationFraming {
        media_type: media_type.cloned().unwrap_or_default(),
        inner_application_content: content.to_vec().into(),
    })?)
}

/// Reads framed application data: the content's type (the group's first
/// type for the empty one) and the content.
pub fn unframe(required: &MediaTypeList, data: &[u8]) -> Result<(MediaType, Vec<u8>), Error> {
    let f: ApplicationFraming = decode(data)?;
    let t = if f.media_type.is_default() {
        required
            .media_type_list
            .first()
            .cloned()
            .ok_or_else(|| Error::InvalidMediaType("content_media_types is empty".into()))?
    } else {
        f.media_type
    };
    Ok((t, f.inner_application_content.as_slice().to_vec()))
}

/// Whether a GroupContext requires framing.
pub(crate) fn framed(context: &GroupContext, dictionary_type: mlsx_base::codec::ExtensionType) -> Result<Option<MediaTypeList>, Error> {
    match crate::AppDataDictionary::find(&context.extensions, dictionary_type)? {
        Some(d) => required(&d),
        None => Ok(None),
    }
}
