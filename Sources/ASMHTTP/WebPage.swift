import HTTPTypes
import Hummingbird

/// The live web page: plain HTML, CSS and JavaScript from `Web/`, embedded in the binary. The
/// files hold no data and no secret, so they are served without a token; the page asks for
/// the token and sends it with every API call.
enum WebPage {
    static func add(to router: Hummingbird.Router<BasicRequestContext>) {
        router.get("/") { _, _ in file(PackageResources.index_html, "text/html; charset=utf-8") }
        router.get("app.js") { _, _ in file(PackageResources.app_js, "text/javascript; charset=utf-8") }
        router.get("app.css") { _, _ in file(PackageResources.app_css, "text/css; charset=utf-8") }
    }

    private static func file(_ bytes: [UInt8], _ type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type,
                .cacheControl: "no-cache",
                // Nothing from elsewhere: scripts, styles and requests stay on this origin.
                .contentSecurityPolicy:
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
                    + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
                .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// The OpenAPI 3.1 document of the API, `openapi.json` beside this file, served at
/// `/v1/openapi.json`.
enum OpenAPIDocument {
    static var bytes: [UInt8] { PackageResources.openapi_json }
}
