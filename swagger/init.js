// Swagger UI's initializer for GET /docs: an external file, since the CSP allows no
// inline script. "Authorize" uses the OAuth2 password flow at /api/auth/login.
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout'
  });
});
