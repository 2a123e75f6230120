//! A QR code as inline SVG markup, drawn by the server (the `qrcode` crate's SVG renderer): no
//! script, no image fetched from anywhere, so `default-src 'self'` holds.

use qrcode::QrCode;
use qrcode::render::svg;

/// Inline `<svg>` markup of `text`'s QR code, or `None` when it does not fit in one (past
/// about 2 KiB). The markup holds only the modules' geometry, none of `text`, so it is safe
/// to put in the page unescaped.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let markup = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    // An XML declaration means nothing inside HTML.
    let start = markup.find("<svg")?;
    Some(markup[start..].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_markup_is_svg_geometry_with_none_of_the_text() {
        let uri = "web+stellar:tx?xdr=AAAA%3C&msg=<script>";
        let svg = super::svg(uri).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("script") && !svg.contains("stellar"), "{svg}");
        assert_eq!(super::svg(&"x".repeat(8000)), None, "too long for one code");
    }
}
