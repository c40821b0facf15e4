//! The filter lexer: splits `ss` filter text into tokens with their byte spans.
//!
//! Words are runs of characters other than white space and `( ) = < > & |` (and `!` when it starts `!=`), so
//! `(sport=:22)` lexes like `( sport = :22 )`; `ss` itself splits on white space only, which we also accept.
//! A backslash makes the next character part of the word (`unix:/run/a\(1\).sock`), and an escaped word is
//! never read as an operator (`dev \eq` names a device "eq"). Operator words (`and`, `or`, `not`, `eq`, `ne`,
//! `lt`, `gt`, `le`, `ge`, `neq`, `leq`, `geq`) are recognised here, ignoring case; keywords such as `src` are
//! left as words for the parser.

use super::FilterError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Cmp(CmpOp),
    /// Any other word, backslash escapes removed. `escaped` is true when it had any.
    Word {
        text: String,
        escaped: bool,
    },
}

/// A token and its byte span in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub len: usize,
}

impl Token {
    /// The word's text, for words.
    pub fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Characters that end a word (besides white space).
fn is_special(c: char) -> bool {
    matches!(c, '(' | ')' | '=' | '<' | '>' | '&' | '|')
}

/// Split `input` into tokens.
pub fn lex(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut it = input.char_indices().peekable();
    while let Some(&(pos, c)) = it.peek() {
        if c.is_whitespace() {
            it.next();
            continue;
        }
        let next = input[pos + c.len_utf8()..].chars().next();
        let two = |a: char, b: char| c == a && next == Some(b);
        let sym = if two('&', '&') {
            Some((Tok::And, 2))
        } else if two('|', '|') {
            Some((Tok::Or, 2))
        } else if two('=', '=') {
            Some((Tok::Cmp(CmpOp::Eq), 2))
        } else if two('!', '=') {
            Some((Tok::Cmp(CmpOp::Ne), 2))
        } else if two('<', '=') {
            Some((Tok::Cmp(CmpOp::Le), 2))
        } else if two('>', '=') {
            Some((Tok::Cmp(CmpOp::Ge), 2))
        } else {
            match c {
                '(' => Some((Tok::LParen, 1)),
                ')' => Some((Tok::RParen, 1)),
                '&' => Some((Tok::And, 1)),
                '|' => Some((Tok::Or, 1)),
                '!' => Some((Tok::Not, 1)),
                '=' => Some((Tok::Cmp(CmpOp::Eq), 1)),
                '<' => Some((Tok::Cmp(CmpOp::Lt), 1)),
                '>' => Some((Tok::Cmp(CmpOp::Gt), 1)),
                _ => None,
            }
        };
        if let Some((tok, len)) = sym {
            for _ in 0..len {
                it.next();
            }
            out.push(Token { tok, pos, len });
            continue;
        }
        let mut text = String::new();
        let mut escaped = false;
        let mut end = pos;
        while let Some(&(i, c)) = it.peek() {
            let starts_ne = c == '!' && input[i + 1..].starts_with('=');
            if c.is_whitespace() || is_special(c) || starts_ne {
                break;
            }
            it.next();
            end = i + c.len_utf8();
            if c == '\\' {
                let Some((j, e)) = it.next() else {
                    return Err(FilterError::new(i, 1, "a backslash at the end of the filter escapes nothing"));
                };
                text.push(e);
                escaped = true;
                end = j + e.len_utf8();
            } else {
                text.push(c);
            }
        }
        let tok = if escaped { None } else { operator_word(&text) };
        out.push(Token { tok: tok.unwrap_or(Tok::Word { text, escaped }), pos, len: end - pos });
    }
    Ok(out)
}

/// The operator an unescaped word stands for, if any.
fn operator_word(w: &str) -> Option<Tok> {
    Some(match w.to_ascii_lowercase().as_str() {
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "eq" => Tok::Cmp(CmpOp::Eq),
        "ne" | "neq" => Tok::Cmp(CmpOp::Ne),
        "lt" => Tok::Cmp(CmpOp::Lt),
        "gt" => Tok::Cmp(CmpOp::Gt),
        "le" | "leq" => Tok::Cmp(CmpOp::Le),
        "ge" | "geq" => Tok::Cmp(CmpOp::Ge),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<String> {
        lex(s)
            .unwrap()
            .into_iter()
            .map(|t| match t.tok {
                Tok::Word { text, .. } => format!("w:{text}@{}+{}", t.pos, t.len),
                other => format!("{other:?}@{}+{}", t.pos, t.len),
            })
            .collect()
    }

    #[test]
    fn splits_symbols_and_words() {
        assert_eq!(
            kinds("(sport=:22)||!dst [::1]:80"),
            [
                "LParen@0+1",
                "w:sport@1+5",
                "Cmp(Eq)@6+1",
                "w::22@7+3",
                "RParen@10+1",
                "Or@11+2",
                "Not@13+1",
                "w:dst@14+3",
                "w:[::1]:80@18+8",
            ]
        );
        assert_eq!(kinds("a != b"), ["w:a@0+1", "Cmp(Ne)@2+2", "w:b@5+1"]);
        assert_eq!(kinds("a!=b"), ["w:a@0+1", "Cmp(Ne)@1+2", "w:b@3+1"]);
        assert_eq!(kinds("x<=1 y>=2"), ["w:x@0+1", "Cmp(Le)@1+2", "w:1@3+1", "w:y@5+1", "Cmp(Ge)@6+2", "w:2@8+1"]);
        assert_eq!(kinds("GEQ And & && | ||"), ["Cmp(Ge)@0+3", "And@4+3", "And@8+1", "And@10+2", "Or@13+1", "Or@15+2"]);
        assert_eq!(kinds("unix:/run/[!a]*.sock"), ["w:unix:/run/[!a]*.sock@0+20"]);
    }

    #[test]
    fn backslash_escapes() {
        assert_eq!(kinds(r"unix:/a\(1\)"), ["w:unix:/a(1)@0+12"]);
        assert_eq!(lex(r"\eq").unwrap()[0].tok, Tok::Word { text: "eq".into(), escaped: true });
        let e = lex(r"src foo\").unwrap_err();
        assert_eq!((e.pos, e.len), (7, 1));
    }

    #[test]
    fn multibyte_positions_are_bytes() {
        assert_eq!(kinds("é src"), ["w:é@0+2", "w:src@3+3"]);
    }
}
