// The project's launcher of the Eclipse DSP TCK (run in Java source-file mode):
//   java -cp '.tools/dsp-tck/*' test/dsp-tck/DspTck.java key=value ...
// Every key=value becomes a system property, which is where the TCK reads its
// settings (after JUnit configuration parameters). It runs the TCK's test
// classes (package org.eclipse.dataspacetck.dsp.verification, names ending in
// Test) as the TCK's own runtime does, prints one line per test and then
// "DSP TCK: N passed, M failed, S skipped". Exit 0 when nothing failed.
import static org.junit.platform.engine.discovery.ClassNameFilter.includeClassNamePatterns;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

public class DspTck {
  public static void main(String[] args) {
    System.setProperty("dataspacetck.launcher", "org.eclipse.dataspacetck.dsp.system.DspSystemLauncher");
    for (String a : args) {
      int i = a.indexOf('=');
      if (i <= 0) throw new IllegalArgumentException("not key=value: " + a);
      System.setProperty(a.substring(0, i), a.substring(i + 1));
    }
    String filter = System.getProperty("tds.tck.filter", "");
    var passed = new AtomicInteger();
    var failed = new AtomicInteger();
    var skipped = new AtomicInteger();
    var request = LauncherDiscoveryRequestBuilder.request()
        .selectors(selectPackage("org.eclipse.dataspacetck.dsp.verification"))
        .filters(includeClassNamePatterns(".*Test"))
        .build();
    var listener = new TestExecutionListener() {
      final java.util.Map<String, Long> started = new java.util.concurrent.ConcurrentHashMap<>();

      boolean selected(TestIdentifier id) {
        return id.isTest() && (filter.isEmpty() || id.getDisplayName().matches(filter + ".*"));
      }

      @Override
      public void executionStarted(TestIdentifier id) {
        started.put(id.getUniqueId(), System.nanoTime());
      }

      @Override
      public void executionSkipped(TestIdentifier id, String reason) {
        if (!id.isTest()) return;
        skipped.incrementAndGet();
        System.out.println("SKIPPED  " + id.getDisplayName() + "  (" + reason + ")");
      }

      @Override
      public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (!id.isTest()) return;
        long ms = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1_000_000;
        if (result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
          passed.incrementAndGet();
          System.out.println("PASSED   " + id.getDisplayName() + "  " + ms + " ms");
        } else {
          failed.incrementAndGet();
          String cause = result.getThrowable().map(t -> t.getClass().getSimpleName() + ": " + t.getMessage()).orElse("");
          System.out.println("FAILED   " + id.getDisplayName() + "  " + ms + " ms");
          System.out.println("         " + cause.replace('\n', ' '));
        }
        System.out.flush();
      }
    };
    var launcher = LauncherFactory.create();
    var plan = launcher.discover(request);
    if (!filter.isEmpty()) {
      // Run only the tests whose display name matches: select them by unique id.
      var ids = new java.util.ArrayList<org.junit.platform.engine.DiscoverySelector>();
      for (var root : plan.getRoots())
        for (var t : plan.getDescendants(root))
          if (listener.selected(t)) ids.add(org.junit.platform.engine.discovery.DiscoverySelectors.selectUniqueId(t.getUniqueId()));
      request = LauncherDiscoveryRequestBuilder.request().selectors(ids).build();
    }
    launcher.execute(request, listener);
    System.out.println("DSP TCK: " + passed + " passed, " + failed + " failed, " + skipped + " skipped");
    System.exit(failed.get() == 0 && passed.get() > 0 ? 0 : 1);
  }
}
