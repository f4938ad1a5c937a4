using System.Diagnostics;

namespace Hub.TestSupport;

/// <summary>Runs this machine's <c>rabbitmqctl</c> (vhosts for the multi-process tests and the bench; broker stop and start).</summary>
public static class RabbitMqCtl
{
    /// <summary>Where <c>rabbitmqctl</c> is: on PATH, or where Debian's package puts it; null when it is not installed.</summary>
    public static string? Path { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Concat(["/usr/sbin", "/sbin", "/usr/lib/rabbitmq/bin"])
        .Select(dir => System.IO.Path.Combine(dir, "rabbitmqctl")).FirstOrDefault(File.Exists);

    /// <summary>Runs <c>rabbitmqctl -q</c> with <paramref name="arguments"/>; returns its output, or throws with its error and <paramref name="hint"/>.</summary>
    public static async Task<string> RunAsync(TimeSpan timeout, string hint, params string[] arguments)
    {
        var ctl = Path ?? throw new InvalidOperationException($"rabbitmqctl is not installed. {hint}");
        var start = new ProcessStartInfo(ctl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-q");
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds:0} s. {hint}");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException(
                $"rabbitmqctl {string.Join(' ', arguments)} failed ({process.ExitCode}): {(await error).Trim()} {(await output).Trim()}. {hint}");
        return await output;
    }
}
