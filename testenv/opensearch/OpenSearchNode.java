// Launches one OpenSearch 2.19 node through codelibs' OpenSearchRunner (Maven Central), for testenv/run.
//
// OpenSearchRunner's own main() only accepts HTTP ports up to 9299 (its maxHttpPort, not settable from the command
// line) and has no option for the bind address or discovery type. This wrapper passes the same arguments
// (-basePath DIR -numOfNode 1 -baseHttpPort N; node n listens on N+n) to OpenSearchRunner.build and adds:
// loopback only, a fixed transport port, single-node discovery (no 10 s auto-bootstrap wait), no disk watermarks.
// The runner loads OpenSearch's modules from the classpath; the security plugin is not among them (plain HTTP).
//
// Usage: java -cp CLASSPATH OpenSearchNode TRANSPORT_PORT -basePath DIR -numOfNode 1 -baseHttpPort N
// Stops on SIGTERM (shutdown hook closes the runner).

import java.util.Arrays;
import java.util.concurrent.CountDownLatch;

import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class OpenSearchNode {

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: OpenSearchNode TRANSPORT_PORT -basePath DIR -numOfNode 1 -baseHttpPort N");
            System.exit(2);
        }
        final String transportPort = args[0];
        final String[] runnerArgs = Arrays.copyOfRange(args, 1, args.length);

        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // take baseHttpPort+n as given; testenv/run checked it is free
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("transport.port", transportPort);
            settings.put("discovery.type", "single-node");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
        });

        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "opensearch-shutdown"));
        try {
            runner.build(runnerArgs);
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("OpenSearchNode started");
        closed.await();
    }
}
