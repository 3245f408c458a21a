// Starts Swagger UI (npm swagger-ui-dist, served by this server) on the dashboard's OpenAPI document.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
})
