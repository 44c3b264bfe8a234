//! The grammar of a visibility query, into an untyped syntax tree (names and literals as
//! written; `plan` resolves and types them):
//!
//! ```text
//! query      := [expr] [GROUP BY name {, name}] [ORDER BY ...]
//! expr       := and {OR and}
//! and        := unary {AND unary}
//! unary      := NOT unary | '(' expr ')' | predicate
//! predicate  := name op literal
//!             | name [NOT] IN '(' literal {, literal} ')'
//!             | name [NOT] BETWEEN literal AND literal
//!             | name [NOT] STARTS_WITH literal
//!             | name IS [NOT] NULL
//! literal    := 'string' | "string" | number | TRUE | FALSE
//! ```
//!
//! Keywords are case-insensitive; names are case-sensitive. `ORDER BY` parses (so that its
//! error is Temporal's "not supported", not a syntax error) and is reported by `plan`.

use super::lexer::{tokenize, Spanned, Token};
use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    /// A number as written: `plan` reads it as an int64, a float64 or nanoseconds.
    Number(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
    fn from_symbol(s: &str) -> Option<Self> {
        Some(match s {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        name: String,
        op: CmpOp,
        value: Literal,
    },
    In {
        name: String,
        values: Vec<Literal>,
        negated: bool,
    },
    Between {
        name: String,
        low: Literal,
        high: Literal,
        negated: bool,
    },
    StartsWith {
        name: String,
        prefix: Literal,
        negated: bool,
    },
    IsNull {
        name: String,
        negated: bool,
    },
    /// `LIKE` parses, to be refused with the attribute's type by `plan`.
    Like {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    pub group_by: Vec<String>,
    pub order_by: bool,
    pub limit: bool,
}

pub fn parse(input: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(input)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        len: input.len(),
    };
    let mut query = Query::default();
    if !p.at_keyword("GROUP") && !p.at_keyword("ORDER") && !p.at_end() {
        query.filter = Some(p.expr()?);
    }
    if p.eat_keyword("GROUP") {
        p.expect_keyword("BY")?;
        query.group_by.push(p.name()?);
        while p.eat(&Token::Comma) {
            query.group_by.push(p.name()?);
        }
    }
    if p.eat_keyword("ORDER") {
        p.expect_keyword("BY")?;
        query.order_by = true;
        // The rest (names, ASC/DESC) is never used: ORDER BY is refused by `plan`.
        while !p.at_end() && !p.at_keyword("LIMIT") {
            p.pos += 1;
        }
    }
    if p.eat_keyword("LIMIT") {
        query.limit = true;
        p.pos = p.tokens.len();
    }
    if !p.at_end() {
        return Err(p.unexpected());
    }
    Ok(query)
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    /// The query's length in bytes (where a syntax error at its end is reported).
    len: usize,
}

/// Words that end a name or cannot be one.
const KEYWORDS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "STARTS_WITH",
    "IS",
    "NULL",
    "GROUP",
    "ORDER",
    "BY",
    "LIKE",
    "TRUE",
    "FALSE",
    "LIMIT",
];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }
    fn at_keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn eat_keyword(&mut self, k: &str) -> bool {
        let at = self.at_keyword(k);
        if at {
            self.pos += 1;
        }
        at
    }
    fn expect_keyword(&mut self, k: &str) -> Result<(), QueryError> {
        if self.eat_keyword(k) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn eat(&mut self, t: &Token) -> bool {
        let at = self.peek() == Some(t);
        if at {
            self.pos += 1;
        }
        at
    }
    /// A syntax error at the token being read (reported just past it, as Temporal does).
    fn unexpected(&self) -> QueryError {
        QueryError::syntax(self.tokens.get(self.pos).map_or(self.len, |(_, end)| *end))
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.eat_keyword("OR") {
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while self.eat_keyword("AND") {
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat(&Token::LParen) {
            let inner = self.expr()?;
            if !self.eat(&Token::RParen) {
                return Err(self.unexpected());
            }
            return Ok(inner);
        }
        self.predicate()
    }

    fn name(&mut self) -> Result<String, QueryError> {
        match self.peek().cloned() {
            Some(Token::Word(w)) if !is_keyword(&w) => {
                self.pos += 1;
                Ok(w)
            }
            Some(Token::QuotedName(n)) => {
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn predicate(&mut self) -> Result<Expr, QueryError> {
        if let (Some(Token::Word(_)), Some((Token::LParen, _))) =
            (self.peek(), self.tokens.get(self.pos + 1))
        {
            return Err(QueryError::invalid(
                "must be a column name but was *sqlparser.FuncExpr".into(),
            ));
        }
        let name = self.name()?;
        match self.peek().cloned() {
            Some(Token::Op(op)) => {
                self.pos += 1;
                let op = CmpOp::from_symbol(op).ok_or_else(|| self.unexpected())?;
                let value = self.comparison_value()?;
                Ok(Expr::Compare { name, op, value })
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => {
                self.pos += 1;
                self.literal()?;
                Ok(Expr::Like { name })
            }
            Some(Token::Word(w))
                if ["AND", "OR", "GROUP", "ORDER", "LIMIT"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Err(QueryError::invalid("incomplete expression".into()))
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                self.pos += 1;
                let negated = self.eat_keyword("NOT");
                self.expect_keyword("NULL")?;
                Ok(Expr::IsNull { name, negated })
            }
            Some(Token::Word(_)) => {
                let negated = self.eat_keyword("NOT");
                if self.eat_keyword("IN") {
                    if !self.eat(&Token::LParen) {
                        return Err(self.unexpected());
                    }
                    let mut values = vec![self.literal()?];
                    while self.eat(&Token::Comma) {
                        values.push(self.literal()?);
                    }
                    if !self.eat(&Token::RParen) {
                        return Err(self.unexpected());
                    }
                    Ok(Expr::In {
                        name,
                        values,
                        negated,
                    })
                } else if self.eat_keyword("BETWEEN") {
                    let low = self.literal()?;
                    self.expect_keyword("AND")?;
                    let high = self.literal()?;
                    Ok(Expr::Between {
                        name,
                        low,
                        high,
                        negated,
                    })
                } else if self.eat_keyword("STARTS_WITH") {
                    let prefix = self.literal()?;
                    Ok(Expr::StartsWith {
                        name,
                        prefix,
                        negated,
                    })
                } else if self.eat_keyword("LIKE") {
                    self.literal()?;
                    Ok(Expr::Like { name })
                } else {
                    Err(self.unexpected())
                }
            }
            None | Some(Token::RParen) => Err(QueryError::invalid("incomplete expression".into())),
            Some(_) => Err(self.unexpected()),
        }
    }

    /// The right side of a comparison: a bare name there is Temporal's "did you forget to
    /// quote" error.
    fn comparison_value(&mut self) -> Result<Literal, QueryError> {
        match self.peek().cloned() {
            Some(Token::Word(w) | Token::QuotedName(w)) if !is_keyword(&w) => {
                Err(QueryError::not_supported(format!(
                    "column name on the right side of comparison expression (did you forget to quote \"{w}\"?)"
                )))
            }
            _ => self.literal(),
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        let lit = match self.peek().cloned() {
            Some(Token::Str(s)) => Literal::Str(s),
            Some(Token::Number(n)) => Literal::Number(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("TRUE") => Literal::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("FALSE") => Literal::Bool(false),
            _ => return Err(self.unexpected()),
        };
        self.pos += 1;
        Ok(lit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(name: &str, op: CmpOp, v: &str) -> Expr {
        Expr::Compare {
            name: name.into(),
            op,
            value: Literal::Str(v.into()),
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_keywords_ignore_case() {
        let q = parse("a = 'x' or b = 'y' AND not c = 'z'").unwrap();
        assert_eq!(
            q.filter.unwrap(),
            Expr::Or(
                Box::new(cmp("a", CmpOp::Eq, "x")),
                Box::new(Expr::And(
                    Box::new(cmp("b", CmpOp::Eq, "y")),
                    Box::new(Expr::Not(Box::new(cmp("c", CmpOp::Eq, "z"))))
                ))
            )
        );
    }

    #[test]
    fn every_predicate_form_parses() {
        for q in [
            "a IN ('x', 'y')",
            "a NOT IN (1, 2)",
            "a BETWEEN 1 AND 2",
            "a NOT BETWEEN '2024-01-01T00:00:00Z' AND '2025-01-01T00:00:00Z'",
            "a STARTS_WITH 'p'",
            "a NOT STARTS_WITH \"p\"",
            "a IS NULL",
            "a is not null",
            "(a = 1 OR b = true) AND `c-d` >= 2.5",
            "GROUP BY ExecutionStatus",
            "a = 1 GROUP BY ExecutionStatus",
            "",
        ] {
            parse(q).unwrap_or_else(|e| panic!("{q}: {e:?}"));
        }
    }

    #[test]
    fn bare_name_on_the_right_is_refused_with_temporals_hint() {
        let e = parse("WorkflowType = foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid query: operation is not supported: column name on the right side of \
             comparison expression (did you forget to quote \"foo\"?)"
        );
    }

    #[test]
    fn malformed_queries_are_errors() {
        for q in [
            "a =",
            "a",
            "(a = 1",
            "a = 1 b",
            "AND",
            "a IN ()",
            "a = 'x' ORDER",
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
        assert!(parse("a = 1 ORDER BY StartTime").unwrap().order_by);
        assert!(parse("a = 1 LIMIT 5").unwrap().limit);
    }

    #[test]
    fn syntax_errors_name_temporals_position() {
        // Temporal parses `select * from table1 where <query>` and reports the offset just
        // past the offending token, counted from 1 (these are its answers).
        for (q, pos) in [
            ("WorkflowId = 'a' AND", 48),
            ("(WorkflowId = 'a'", 45),
            ("WorkflowId = 'a')", 45),
            ("WorkflowId IN ()", 44),
        ] {
            assert_eq!(
                parse(q).unwrap_err().to_string(),
                format!("invalid query: malformed SQL query: syntax error at position {pos}"),
                "{q}"
            );
        }
        assert_eq!(
            parse("WorkflowType").unwrap_err().to_string(),
            "invalid query: invalid expression: incomplete expression"
        );
    }
}
