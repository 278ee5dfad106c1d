//! Fieldless enums whose values are stored and written as fixed texts (`"PAYING"`,
//! `"REFUND_ORDER_CHANGED"`), each defined once: the variants, `ALL`, `as_str`, `parse` and
//! `Display` all come from one list of `Variant => "TEXT"`, so a text can never be written one
//! way and parsed another.

/// Defines `pub enum $name` with `ALL`, `as_str`, `parse` and `Display` from one list.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The text it is stored and written as.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The value a text names, if any.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|value| value.as_str() == text)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
#[allow(unreachable_pub)]
mod tests {
    text_enum! {
        /// A test enum.
        pub enum Colour {
            /// Red.
            Red => "RED",
            /// Dark blue.
            DarkBlue => "DARK_BLUE",
        }
    }

    #[test]
    fn texts_round_trip() {
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DarkBlue]);
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(colour));
            assert_eq!(colour.to_string(), colour.as_str());
        }
        assert_eq!(Colour::DarkBlue.as_str(), "DARK_BLUE");
        assert_eq!(Colour::parse("dark_blue"), None);
    }
}
