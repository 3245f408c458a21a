// Starts the NHS.UK frontend's components. A file, not an inline script: the pages' Content-Security-Policy
// allows scripts from this server only.
import { initAll } from '/static/nhsuk-frontend.min.js'

initAll()
