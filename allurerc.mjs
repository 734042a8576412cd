// Allure 3 report configuration (read by `make report` from the repository root).
// Categories are matched in order; patterns are JavaScript regular expressions.
// No import of "allure": the config is a plain object, so it works with the CLI installed by hack/.
export default {
  name: "kubeproof",
  // kept between runs, so nightly reports show trends, flaky tests and status transitions
  historyPath: "./reports/history.jsonl",
  categories: {
    rules: [
      {
        name: "Documented behaviour no longer holds (strict xfail)",
        id: "behaviour-changed-known",
        matchers: { statuses: ["skipped"], message: /^XFAIL/ },
      },
      {
        name: "Documented behaviour changed",
        id: "behaviour-changed",
        matchers: { statuses: ["failed", "broken"], message: /XPASS|\[behaviour-changed\]/ },
      },
      {
        name: "Infrastructure failure",
        id: "infrastructure",
        matchers: {
          statuses: ["failed", "broken"],
          message: /cluster unavailable|substrate|ClusterUnreachable|ProviderError|MaxRetryError|Connection refused|ErrImagePull|ImagePullBackOff/,
        },
      },
      {
        name: "Timed out waiting for a behaviour",
        id: "timed-out",
        matchers: { statuses: ["failed", "broken"], message: /Timed out after|Timeout \(>[\d.]+s\) from pytest-timeout/ },
      },
      {
        name: "Capability missing on this cluster (skip)",
        id: "capability-missing",
        matchers: { statuses: ["skipped"] },
      },
      { name: "Product defect", id: "product-defect", matchers: { statuses: ["failed"] } },
      { name: "Test defect", id: "test-defect", matchers: { statuses: ["broken"] } },
    ],
  },
};
