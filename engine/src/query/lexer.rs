//! Tokens of Temporal's visibility query language (a MySQL-flavoured SQL `WHERE` clause):
//! bare words (keywords and attribute names; keywords are matched case-insensitively by the
//! parser), `` `quoted names` ``, strings in single or double quotes, numbers, comparison
//! operators, parentheses and commas.

use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A bare word: a keyword or an attribute name.
    Word(String),
    /// A name in backticks (never a keyword).
    QuotedName(String),
    /// A string literal (either quote).
    Str(String),
    /// A number literal as written (the parser types it).
    Number(String),
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`.
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

/// A token and the byte offset just past it (Temporal's syntax errors name that position).
pub type Spanned = (Token, usize);

pub fn tokenize(input: &str) -> Result<Vec<Spanned>, QueryError> {
    let indexed: Vec<(usize, char)> = input.char_indices().collect();
    let chars: Vec<char> = indexed.iter().map(|(_, c)| *c).collect();
    let offset = |i: usize| indexed.get(i).map_or(input.len(), |(b, _)| *b);
    let mut out: Vec<Spanned> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let before = out.len();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Token::LParen, 0));
                i += 1;
            }
            ')' => {
                out.push((Token::RParen, 0));
                i += 1;
            }
            ',' => {
                out.push((Token::Comma, 0));
                i += 1;
            }
            '=' => {
                out.push((Token::Op("="), 0));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push((Token::Op("!="), 0));
                i += 2;
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    out.push((Token::Op("<="), 0));
                    i += 2;
                }
                Some('>') => {
                    out.push((Token::Op("!="), 0));
                    i += 2;
                }
                _ => {
                    out.push((Token::Op("<"), 0));
                    i += 1;
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push((Token::Op(">="), 0));
                    i += 2;
                } else {
                    out.push((Token::Op(">"), 0));
                    i += 1;
                }
            }
            '\'' | '"' | '`' => {
                let (text, next) =
                    quoted(&chars, i).ok_or_else(|| QueryError::syntax(input.len()))?;
                let token = if c == '`' {
                    Token::QuotedName(text)
                } else {
                    Token::Str(text)
                };
                out.push((token, 0));
                i = next;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                out.push((Token::Number(chars[start..i].iter().collect()), 0));
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                out.push((Token::Word(chars[start..i].iter().collect()), 0));
            }
            _ => return Err(QueryError::syntax(offset(i + 1))),
        }
        if out.len() > before {
            out.last_mut().expect("a token was pushed").1 = offset(i);
        }
    }
    Ok(out)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A quoted run starting at `chars[start]` (the quote); a doubled quote or a backslash
/// escapes it. Returns the text and the index after the closing quote.
fn quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && quote != '`' {
            match chars.get(i + 1) {
                Some(&n) => {
                    text.push(match n {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        other => other,
                    });
                    i += 2;
                }
                None => break,
            }
        } else if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                text.push(quote);
                i += 2;
            } else {
                return Some((text, i + 1));
            }
        } else {
            text.push(c);
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_operators_strings_and_names() {
        let t: Vec<Token> = tokenize("WorkflowType = 'a''b' AND `my-attr`!=\"x\" OR n<>-1.5e3")
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(
            t,
            vec![
                Token::Word("WorkflowType".into()),
                Token::Op("="),
                Token::Str("a'b".into()),
                Token::Word("AND".into()),
                Token::QuotedName("my-attr".into()),
                Token::Op("!="),
                Token::Str("x".into()),
                Token::Word("OR".into()),
                Token::Word("n".into()),
                Token::Op("!="),
                Token::Number("-1.5e3".into()),
            ]
        );
    }

    #[test]
    fn spans_end_after_each_token() {
        let t = tokenize("ab = 'c'").unwrap();
        assert_eq!(
            t.iter().map(|(_, end)| *end).collect::<Vec<_>>(),
            vec![2, 4, 8]
        );
    }

    #[test]
    fn unterminated_string_is_an_error() {
        assert!(tokenize("a = 'x").is_err());
    }
}
