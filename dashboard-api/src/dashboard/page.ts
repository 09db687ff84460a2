export const dashboardHtml = "<!doctype html><title>TDS</title>";
